// The experiment process of bench/bulk.ts: an SDK client (`new DataInterface({ dataRemote: true })`)
// that runs the transfers it is told to over IPC and answers with how long each took. Plain JS on
// the SDK's compiled dist, so it runs with plain `node` (its RSS is measured by the parent).
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { DataInterface, downloadFilesFromList, uploadFilesFromList } from '@rtfmri/sdk';

const [url, token, name] = process.argv.slice(2);
const di = new DataInterface({ dataRemote: true, url, token, name, clientId: 'bench-bulk', callTimeoutMs: 30 * 60_000 });
await di.waitForRuntime(30);

async function sha256File(file) {
  const h = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.allocUnsafe(4 << 20);
  try {
    for (;;) {
      const n = await new Promise((res, rej) => fs.read(fd, buf, 0, buf.length, null, (e, k) => (e ? rej(e) : res(k))));
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

async function run(m) {
  switch (m.op) {
    case 'getFile': {
      const b = await di.getFile(m.file);
      return { bytes: b.byteLength };
    }
    case 'upload': {
      // control room -> this machine (rt-cloud's naming), written to disk here
      const [dest] = await uploadFilesFromList(di, [m.file], m.out);
      const bytes = fs.statSync(dest).size;
      return { bytes, dest };
    }
    case 'download': {
      // this machine -> control room
      await downloadFilesFromList(di, [m.file], m.out);
      return { bytes: fs.statSync(m.file).size };
    }
    case 'loop': {
      // transfers back to back until the deadline: the load other clients see
      const until = Date.now() + m.seconds * 1000;
      let calls = 0, bytes = 0, failed = 0;
      const errors = [];
      while (Date.now() < until) {
        try {
          const r = await run({ ...m, op: m.kind });
          bytes += r.bytes;
          if (r.dest) fs.rmSync(r.dest, { force: true });
        } catch (e) {
          failed++;
          errors.push(String(e?.message ?? e).slice(0, 200));
          await new Promise((r) => setTimeout(r, 500));
        }
        calls++;
      }
      return { calls, bytes, failed, errors: errors.slice(0, 3) };
    }
    case 'sha':
      return { sha: await sha256File(m.file) };
    case 'gc':
      globalThis.gc?.();
      return {};
    case 'exit':
      await di.close();
      setTimeout(() => process.exit(0), 50);
      return {};
    default:
      throw new Error(`unknown op ${m.op}`);
  }
}

process.on('message', async (m) => {
  // The last case's garbage (a 1 GiB getFile) must not count as this one's peak.
  globalThis.gc?.();
  const t0 = performance.now();
  try {
    const r = await run(m);
    process.send({ id: m.id, ok: true, ms: performance.now() - t0, ...r });
  } catch (e) {
    process.send({ id: m.id, ok: false, ms: performance.now() - t0, error: `${e?.name ?? 'Error'}: ${String(e?.message ?? e).slice(0, 300)}` });
  }
});
process.send({ ready: true, dir: path.resolve('.') });
