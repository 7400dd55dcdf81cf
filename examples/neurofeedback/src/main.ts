#!/usr/bin/env node
// The experiment on its own, against a relay you run: prints the ROI feedback per TR.
//   node dist/main.js --url ws://relay:8888 --token T --name scanner1 --dir /scans/today --pattern 'epi_{TR:04d}.dcm' --volumes 40
import { parseArgs } from 'node:util';
import { DataInterface } from '@rtfmri/sdk';
import { bar, runNeurofeedback } from './neurofeedback.js';

const usage = `Usage: neurofeedback --url ws(s)://HOST:PORT --name RUNTIME --dir FOLDER --pattern PATTERN [--volumes N] [--token T]`;
let values: Record<string, string | boolean | undefined>;
try {
  ({ values } = parseArgs({
    options: { url: { type: 'string' }, token: { type: 'string' }, name: { type: 'string' }, dir: { type: 'string' }, pattern: { type: 'string' }, volumes: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  }));
} catch (e) {
  console.error(`neurofeedback: ${(e as Error).message.split('. ')[0]}\n${usage}`);
  process.exit(2);
}
if (values.help) {
  console.log(usage);
  process.exit(0);
}
const token = (values.token as string | undefined) ?? process.env.RTFMRI_TOKEN;
if (!values.url || !values.dir || !values.pattern || !token) {
  console.error(`neurofeedback: --url, --dir, --pattern and a token (--token or RTFMRI_TOKEN) are required\n${usage}`);
  process.exit(2);
}
const volumes = Number(values.volumes ?? 20);
const di = new DataInterface({ dataRemote: true, url: values.url as string, token, name: (values.name as string) ?? 'scanner1', clientId: 'neurofeedback' });
try {
  await di.waitForRuntime(30);
  await runNeurofeedback({
    di,
    imgDir: values.dir as string,
    filePattern: values.pattern as string,
    volumes,
    onVolume: (r) => console.log(`${String(r.index).padStart(4)}  ROI ${r.roiMean.toFixed(1)}  ${bar(r.feedback)}`),
  });
} catch (e) {
  console.error(`neurofeedback: ${(e as Error).name}: ${(e as Error).message}`);
  process.exitCode = 1;
} finally {
  await di.close();
}
