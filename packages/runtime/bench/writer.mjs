// The "scanner" of the benchmark, in its own thread: writes files the way a scanner does and
// stamps the wall-clock time (performance.timeOrigin + now, comparable across threads) of the
// moment the writer closes the file (in place: after its last write, just before close()) or
// renames it (just before rename()). Stamps go to a shared Float64Array slot; the reader computes
// latencies after the writes are done, so a stamp is never read before it is written. A reader
// that had the file before the writer thread got back from its last write() (the writer preempted
// on 2 cores) is counted as 0 ms, an upper bound of a delivery that preceded close().
import fs from 'node:fs';
import path from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';

const stamps = new Float64Array(workerData.stamps);
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function write({ file, bytes, mode, chunks, gapMs, slot }) {
  const target = mode === 'rename' ? path.join(path.dirname(file), `.${path.basename(file)}.part`) : file;
  const fd = fs.openSync(target, 'w');
  const step = Math.ceil(bytes.length / chunks);
  for (let off = 0; off < bytes.length; off += step) {
    if (off > 0 && gapMs > 0) await sleep(gapMs);
    fs.writeSync(fd, bytes, off, Math.min(step, bytes.length - off), off);
  }
  if (mode !== 'rename') stamps[slot] = now();
  fs.closeSync(fd);
  if (mode === 'rename') {
    stamps[slot] = now();
    fs.renameSync(target, file);
  }
}

parentPort.on('message', async (msg) => {
  if (msg.type === 'write') {
    await write(msg);
    parentPort.postMessage({ type: 'written', slot: msg.slot });
  } else if (msg.type === 'schedule') {
    // 32 streams at a TR: each stream's files at its own phase of the TR, for `count` TRs.
    const { streams, tr, count, t0 } = msg;
    const jobs = [];
    for (const s of streams) {
      jobs.push((async () => {
        for (let i = 0; i < count; i++) {
          const due = t0 + s.phaseMs + i * tr * 1000;
          const wait = due - now();
          if (wait > 0) await sleep(wait);
          await write({ file: path.join(s.dir, `${s.prefix}${String(i).padStart(3, '0')}.dcm`), bytes: msg.bytes, mode: s.mode, chunks: s.chunks, gapMs: s.gapMs, slot: s.slot0 + i });
        }
      })());
    }
    await Promise.all(jobs);
    parentPort.postMessage({ type: 'scheduled' });
  }
});
