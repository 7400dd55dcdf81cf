// `@rtfmri/sdk/browser` as a web developer bundles it: plain esbuild, --platform=browser, no
// aliases or plugins, from the built package (dist/, what npm users get). The bundle must resolve
// without any Node built-in and without the control-room runtime or Node-only libraries.
import { gzipSync } from 'node:zlib';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.resolve(here, '../dist/browser');

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
    console.log(`@rtfmri/sdk/browser bundle (esbuild --platform=browser --minify): ${sizes.map((s) => `${s.file} ${(s.min / 1024).toFixed(1)} KiB min, ${(s.gzip / 1024).toFixed(1)} KiB gzip`).join('; ')}`);
    expect(sizes.length).toBe(2);
  });
});
