// `@rtfmri/sdk/browser` as a web developer bundles it: plain esbuild, --platform=browser, no
// aliases or plugins, from the built package (dist/, what npm users get). The bundle must resolve
// without any Node built-in and without the control-room runtime or Node-only libraries.
//
// Page budget (issue 14): a page showing an uncompressed-DICOM session loads at most 150 KB of JS
// (gzip; page, worker and the chunks the first volume loads); its page thread no DICOM code at all;
// a feedback-only page (SubjectInterface) no dicom-wasm anywhere, worker included. Measured on two
// small pages bundled with code splitting, as the examples are.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { gzipSync } from 'node:zlib';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Metafile, type OutputFile } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.resolve(here, '../dist/browser');
const BUDGET_GZIP = 150_000;

const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
const dicomWasm = (p: string) => /packages\/dicom-wasm\//.test(p);
/** The reader's weight: walker bytes, dictionaries, dataset, and the anonymizer. */
const dicomReader = (p: string) => /packages\/dicom-wasm\/(generated\/|dist\/(dataset|dictionary|private-dictionary|private-dictionary-data|anonymize\/.*)\.js$)/.test(p);

const work = mkdtempSync(path.join(tmpdir(), 'rtfmri-bundle-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Split {
  metafile: Metafile;
  files: Map<string, OutputFile>;
  /** The output key of entry `name`. */
  out(name: string): string;
  /** Outputs and the chunks they import statically, recursively. */
  closure(outputs: Iterable<string>): Set<string>;
  /** The chunks `outputs` import dynamically whose entry point matches, with their static closure. */
  dynamic(outputs: Iterable<string>, which: RegExp): Set<string>;
  sources(outputs: Iterable<string>): string[];
  size(outputs: Iterable<string>): { min: number; gzip: number };
}

/** A page (its source) and the SDK's worker, bundled with code splitting like the examples. */
async function splitBuild(name: string, pageSource: string, write = false): Promise<Split> {
  const page = path.join(work, `${name}.js`);
  writeFileSync(page, pageSource.replaceAll('SDK', JSON.stringify(path.join(dist, 'index.js'))));
  const outdir = path.join(work, `out-${name}`);
  const r = await build({
    entryPoints: { page, worker: path.join(dist, 'worker.js') },
    bundle: true, platform: 'browser', format: 'esm', minify: true, splitting: true, write: false, metafile: true,
    outdir, absWorkingDir: work, logLevel: 'silent',
  });
  if (write) {
    mkdirSync(outdir, { recursive: true });
    for (const f of r.outputFiles) writeFileSync(f.path, f.contents);
  }
  expect(r.errors).toEqual([]);
  const metafile = r.metafile;
  const files = new Map(r.outputFiles.map((f) => [path.relative(work, f.path), f]));
  const closure = (outputs: Iterable<string>) => {
    const seen = new Set<string>();
    const visit = (o: string) => {
      if (seen.has(o)) return;
      seen.add(o);
      for (const i of metafile.outputs[o].imports) if (i.kind === 'import-statement' && metafile.outputs[i.path]) visit(i.path);
    };
    for (const o of outputs) visit(o);
    return seen;
  };
  return {
    metafile,
    files,
    out: (n) => {
      const k = Object.keys(metafile.outputs).find((o) => path.basename(o) === `${n}.js`);
      if (!k) throw new Error(`no ${n}.js`);
      return k;
    },
    closure,
    dynamic: (outputs, which) => {
      const found = new Set<string>();
      for (const o of closure(outputs))
        for (const i of metafile.outputs[o].imports)
          if (i.kind === 'dynamic-import' && which.test(metafile.outputs[i.path]?.entryPoint ?? '')) found.add(i.path);
      return closure(found);
    },
    sources: (outputs) => [...new Set([...outputs].flatMap((o) => Object.entries(metafile.outputs[o].inputs).filter(([, v]) => v.bytesInOutput > 0).map(([k]) => k)))],
    size: (outputs) => {
      let min = 0;
      let gzip = 0;
      for (const o of outputs) {
        const c = files.get(o)!.contents;
        min += c.length;
        gzip += gzipSync(c).length;
      }
      return { min, gzip };
    },
  };
}

describe('@rtfmri/sdk/browser bundles for a browser with plain esbuild', () => {
  it('page entry and worker: no Node built-ins, no runtime, no Node-only packages; size printed', async () => {
    const r = await build({
      entryPoints: { sdk: path.join(dist, 'index.js'), worker: path.join(dist, 'worker.js') },
      bundle: true,
      platform: 'browser',
      format: 'esm',
      minify: true,
      write: false,
      metafile: true,
      outdir: path.join(here, 'out'),
      logLevel: 'silent',
    });
    expect(r.errors).toEqual([]);
    const inputs = Object.keys(r.metafile.inputs);
    const forbidden = inputs.filter((p) => /^node:|packages\/(runtime|cli|files)\/|node_modules\/(ws|node-datachannel|piscina|xstate|chokidar|bufferutil)\//.test(p) || p.endsWith('/relay/dist/server.js') || p.endsWith('/relay/dist/relay.js'));
    expect(forbidden).toEqual([]);
    // The relay's browser-safe ends are in (the client side of the protocol).
    expect(inputs.some((p) => /relay\/dist\/peer\.js$/.test(p))).toBe(true);
    const sizes = r.outputFiles.filter((f) => f.path.endsWith('.js')).map((f) => ({ file: path.basename(f.path), min: f.contents.length, gzip: gzipSync(f.contents).length }));
    // With every export of the package kept (an entry point of its own: rt-cloud's helpers, NIfTI, the anonymizer), without splitting.
    console.log(`@rtfmri/sdk/browser, whole API as an entry (esbuild --platform=browser --minify): ${sizes.map((s) => `${s.file} ${kib(s.min)} min, ${kib(s.gzip)} gzip`).join('; ')}`);
    expect(sizes.length).toBe(2);
  });

  it('a page showing an uncompressed-DICOM session: page + worker + first-volume chunks <= 150 KB gzip; no DICOM code on the page thread', async () => {
    const b = await splitBuild('session', `
      import { DataInterface } from SDK;
      const di = new DataInterface({ dataRemote: true, url: 'ws://relay', token: 't', name: 'scanner1' });
      const stream = await di.initScannerStream('/data/scan', 'vol_{TR:03d}.dcm', 0);
      for (;;) {
        const f = await di.getVolumeFrame(stream, null, 5, { mode: 'slice' });
        document.body.textContent = String(f.roi);
      }
    `);
    const page = b.closure([b.out('page')]);
    const worker = b.closure([b.out('worker')]);
    // What the worker loads on the first volume: the DICOM reader and the frame code.
    const firstVolume = b.dynamic([b.out('worker')], /dicom-wasm\/dist\/entry\/parse\.js$|sdk\/dist\/browser\/frame\.js$/);
    const all = new Set([...page, ...worker, ...firstVolume]);
    const s = b.size(all);
    console.log(`session page (splitting, minified): page ${kib(b.size(page).gzip)} gzip (${page.size} files), worker ${kib(b.size(worker).gzip)}, first volume ${kib(b.size(firstVolume).gzip)}; all ${kib(s.min)} min, ${kib(s.gzip)} gzip (${all.size} files)`);
    // The first volume's chunks hold the reader: dictionary, walker, dataset, mosaic (not the anonymizer, the writer, the Basic Profile table).
    const reader = b.sources(firstVolume);
    expect(reader.filter((p) => /generated\/dictionary-data\.js$|generated\/dicom-wasm-bytes\.js$|dist\/dataset\.js$|dist\/mosaic\.js$/.test(p))).toHaveLength(4);
    expect(reader.filter((p) => /anonymize|writer|synthetic|dicom-anonymize-bytes/.test(p))).toEqual([]);
    // The dictionary is in one chunk, loaded once per page (the page itself never loads it).
    const withDictionary = [...b.files.keys()].filter((o) => o.endsWith('.js') && Object.keys(b.metafile.outputs[o].inputs).some((k) => k.endsWith('generated/dictionary-data.js') && b.metafile.outputs[o].inputs[k].bytesInOutput > 0));
    expect(withDictionary).toHaveLength(1);
    expect(b.sources(page).filter(dicomWasm)).toEqual([]);
    expect(b.sources(worker).filter(dicomWasm)).toEqual([]);
    expect(s.gzip).toBeLessThanOrEqual(BUDGET_GZIP);
  });

  it('a feedback-only page (SubjectInterface) loads no dicom-wasm at all, worker included', async () => {
    const b = await splitBuild('feedback', `
      import { DataInterface, SubjectInterface } from SDK;
      const di = new DataInterface({ dataRemote: true, url: 'ws://relay', token: 't', name: 'scanner1' });
      const subject = new SubjectInterface(di);
      const r = await subject.dequeueResult(true, 10);
      await subject.addResponse(r.runId, r.trId, { key: 'f' });
    `);
    const loaded = b.closure([b.out('page'), b.out('worker')]);
    const s = b.size(loaded);
    console.log(`feedback-only page (splitting, minified): page + worker ${kib(s.min)} min, ${kib(s.gzip)} gzip (${loaded.size} files)`);
    expect(b.sources(loaded).filter(dicomWasm)).toEqual([]);
    // The check could fail: the same page that also parses a DICOM file on its thread loads the reader there.
    const parsing = await splitBuild('parsing', `
      import { DataInterface, SubjectInterface, parseDicom, dicomReady } from SDK;
      const subject = new SubjectInterface(new DataInterface({ dataRemote: true, url: 'ws://relay', token: 't' }));
      await dicomReady();
      console.log(parseDicom(new Uint8Array(await (await fetch('/a.dcm')).arrayBuffer())).get('PatientName'), subject);
    `);
    expect(parsing.sources(parsing.closure([parsing.out('page')])).filter(dicomReader).length).toBeGreaterThan(0);
  });
});

const chromium = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
if (!chromium) console.warn('[sdk] no Chromium at /usr/bin/chromium: skipping the feedback page in Chromium');

describe.skipIf(!chromium)('a feedback-only page in Chromium', () => {
  it('fetches no chunk with dicom-wasm while its worker runs; a getImageData call would fetch the reader (the check can fail)', async () => {
    // The page starts the SDK's worker (its link fails: nothing listens on port 9 of loopback), asks
    // for a result, reports; then calls getImageData, which imports the DICOM reader on the page.
    const b = await splitBuild('live', `
      import { DataInterface, SubjectInterface } from SDK;
      const report = (phase, body) => fetch('/result/' + phase, { method: 'POST', body: JSON.stringify(body) });
      const di = new DataInterface({ dataRemote: true, url: 'ws://127.0.0.1:9', token: 't', name: 'scanner1', transport: 'websocket' });
      const subject = new SubjectInterface(di);
      subject.dequeueResult(false).catch(() => undefined);
      const status = await di.linkStatus(); // answered by the worker: it runs
      await new Promise((r) => setTimeout(r, 1000));
      await report('feedback', { status });
      await di.getImageData(1).catch((e) => e.name);
      await new Promise((r) => setTimeout(r, 500));
      await report('imagedata', {});
    `, true);
    const outdir = path.join(work, 'out-live');
    const requested: string[] = [];
    const phases = new Map<string, (v: string[]) => void>();
    const phase = (name: string) => new Promise<string[]>((r) => phases.set(name, r));
    const feedbackDone = phase('feedback');
    const imageDone = phase('imagedata');
    const server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (req.method === 'POST' && url.pathname.startsWith('/result/')) {
        req.resume();
        req.on('end', () => {
          res.end('ok');
          phases.get(url.pathname.slice(8))?.([...requested]);
        });
        return;
      }
      if (url.pathname === '/') {
        res.setHeader('content-type', 'text/html');
        return res.end('<!doctype html><meta charset="utf-8"><script type="module" src="/page.js"></script>');
      }
      const file = path.join(outdir, path.normalize(url.pathname));
      if (!file.startsWith(outdir + path.sep) || !existsSync(file)) return res.writeHead(404).end();
      requested.push(path.relative(work, file));
      res.setHeader('content-type', 'text/javascript');
      res.end(b.files.get(path.relative(work, file))?.contents ?? '');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const profile = mkdtempSync(path.join(tmpdir(), 'rtfmri-sdk-chromium-'));
    const browser = spawn(chromium!, [
      '--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-extensions',
      '--disable-features=MediaRouter,OptimizationHints', `--user-data-dir=${profile}`, `http://127.0.0.1:${port}/`,
    ], { stdio: 'ignore', detached: true }); // its own process group: the cleanup kills its helpers too
    const exited = new Promise<void>((r) => browser.once('exit', () => r()));
    const withDicom = (files: string[]) => files.filter((o) => b.sources([o]).some(dicomWasm));
    try {
      const timeout = (s: number) => new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`no report from the page within ${s} s`)), s * 1000));
      const first = await Promise.race([feedbackDone, timeout(25)]);
      expect(first).toContain(b.out('worker'));
      expect(first).toContain(b.out('page'));
      expect(withDicom(first)).toEqual([]);
      const second = await Promise.race([imageDone, timeout(15)]);
      expect(withDicom(second).length).toBeGreaterThan(0);
      console.log(`feedback-only page in Chromium: page and worker fetched ${new Set(first).size} scripts, none with dicom-wasm; getImageData then fetched ${second.slice(first.length).join(', ')} (the reader: ${withDicom(second).join(', ')})`);
    } finally {
      try {
        process.kill(-browser.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      server.close();
      rmSync(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
    }
  }, 60_000);
});
