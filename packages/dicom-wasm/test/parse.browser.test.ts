// The same built package in a real browser: headless Chromium loads dist/ (fflate and @noble/hashes through an import
// map), parses generated files in three transfer syntaxes, checks completeness and the pixel view,
// and posts the results back to this test's loopback server. Skips without Chromium or dist/.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { writeDicom } from '../src/index.js';
import { everyVr } from './parse-fixtures.js';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
const chromium = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
const built = existsSync(join(pkg, 'dist/index.js')) && existsSync(join(pkg, 'generated/dicom-wasm-bytes.js'));
if (!chromium) console.warn('[dicom-wasm] no Chromium at /usr/bin/chromium: skipping the browser test');
else if (!built) console.warn('[dicom-wasm] dist/ not built (run `npx turbo run build`): skipping the browser test');

const PAGE = `<!doctype html><meta charset="utf-8">
<script type="importmap">{ "imports": { "fflate": "/fflate.js", "@noble/hashes/": "/noble/" } }</script>
<script type="module">
const out = {};
try {
  const m = await import('/dist/index.js');
  const t0 = performance.now();
  await m.ready();
  out.readyMs = performance.now() - t0;
  for (const name of ['implicit', 'explicit', 'bigendian', 'deflated']) {
    const bytes = new Uint8Array(await (await fetch('/files/' + name)).arrayBuffer());
    const ds = m.parseDicom(bytes);
    out[name] = {
      ts: ds.transferSyntaxUID, name: ds.get('PatientName'), n: ds.get('InstanceNumber'),
      seq: ds.get('ReferencedImageSequence').length, px: Array.from(ds.pixelData()),
      complete: m.isComplete(bytes), cut: m.isComplete(bytes.subarray(0, bytes.length - 3)),
    };
  }
  try { m.parseDicom(new Uint8Array(300)); } catch (e) { out.error = { name: e.name, reason: e.reason, isParseError: e instanceof m.DicomParseError }; }
} catch (e) { out.failure = String(e && e.stack || e); }
await fetch('/result', { method: 'POST', body: JSON.stringify(out) });
</script>`;

describe.skipIf(!chromium || !built)('in a browser (headless Chromium)', () => {
  it('parses, checks completeness and views pixels with the built package', async () => {
    const files: Record<string, Uint8Array> = {
      implicit: writeDicom(everyVr(), { transferSyntaxUID: '1.2.840.10008.1.2' }),
      explicit: writeDicom(everyVr(), { transferSyntaxUID: '1.2.840.10008.1.2.1' }),
      bigendian: writeDicom(everyVr(), { transferSyntaxUID: '1.2.840.10008.1.2.2' }),
      deflated: writeDicom(everyVr(), { transferSyntaxUID: '1.2.840.10008.1.2.1.99' }),
    };
    let resolveResult!: (v: string) => void;
    const result = new Promise<string>((r) => (resolveResult = r));
    const server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (req.method === 'POST' && url.pathname === '/result') {
        let body = '';
        req.on('data', (c) => (body += c));
        req.on('end', () => { res.end('ok'); resolveResult(body); });
        return;
      }
      const send = (type: string, data: string | Uint8Array) => { res.setHeader('content-type', type); res.end(data); };
      if (url.pathname === '/') return send('text/html', PAGE);
      if (url.pathname === '/fflate.js') return send('text/javascript', readFileSync(join(pkg, 'node_modules/fflate/esm/browser.js')));
      if (url.pathname.startsWith('/files/') && files[url.pathname.slice(7)]) return send('application/dicom', files[url.pathname.slice(7)]);
      const rel = normalize(url.pathname).replace(/^\/+/, '');
      if (/^noble\/[\w-]+\.js$/.test(rel)) return send('text/javascript', readFileSync(join(pkg, 'node_modules/@noble/hashes', rel.slice(6))));
      if (/^(dist|generated)\/([\w-]+\/)?[\w.-]+\.js$/.test(rel)) return send('text/javascript', readFileSync(join(pkg, rel)));
      res.statusCode = 404;
      res.end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const profile = mkdtempSync(join(tmpdir(), 'dicom-wasm-chromium-'));
    const browser = spawn(chromium!, [
      '--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-extensions',
      '--disable-features=MediaRouter,OptimizationHints', `--user-data-dir=${profile}`, `http://127.0.0.1:${port}/`,
    ], { stdio: 'ignore', detached: true }); // its own process group: the cleanup kills its helpers too
    const exited = new Promise<void>((r) => browser.once('exit', () => r()));
    try {
      const timeout = new Promise<string>((_, rej) => setTimeout(() => rej(new Error('no result from the page within 25 s')), 25_000));
      const out = JSON.parse(await Promise.race([result, timeout]));
      expect(out.failure).toBeUndefined();
      console.log(`[dicom-wasm] Chromium: ready() took ${out.readyMs.toFixed(2)} ms`);
      for (const [name, ts] of [['implicit', '1.2.840.10008.1.2'], ['explicit', '1.2.840.10008.1.2.1'], ['bigendian', '1.2.840.10008.1.2.2'], ['deflated', '1.2.840.10008.1.2.1.99']]) {
        expect(out[name]).toEqual({ ts, name: 'Müller^Jöns', n: 7, seq: 2, px: [1, -2, 3, -32768], complete: true, cut: false });
      }
      expect(out.error).toEqual({ name: 'DicomParseError', reason: 'not DICOM (no DICM prefix and no data set start)', isParseError: true });
    } finally {
      try { process.kill(-browser.pid!, 'SIGKILL'); } catch { /* already gone */ }
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      server.close();
      rmSync(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
    }
  }, 40_000);
});
