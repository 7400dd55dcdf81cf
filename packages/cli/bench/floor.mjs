// The machine's own limits for bench/bulk.ts's transfer rows, measured the way the rows are: the
// same number of processes, the same file and sizes, nothing of rtfmri.
//   node floor.mjs sink - SIZE_MIB        receives SIZE three times into a fresh array each (as getFile's
//                                         caller holds it), prints "call N: MS"
//   node floor.mjs forward - TO_PORT      pipes every connection on to TO_PORT (the relay's place)
//   (sink and forward listen on a free port and print "ready PORT")
//   node floor.mjs source PORT FILE       reads FILE in 1 MiB chunks into reused buffers and writes
//                                         it to the socket, three times (the runtime's place)
//   node floor.mjs disk FILE SIZE_MIB     writes SIZE in 1 MiB writes to FILE (temp + rename), three
//                                         times, prints "call N: MS" (what writing to that disk costs)
// Plain TCP sockets, no WebSocket framing, no RPC, no flow control beyond TCP's.
import fs from 'node:fs';
import net from 'node:net';

const [role, a, b] = process.argv.slice(2);
const MiB = 1 << 20;

if (role === 'sink') {
  const size = Number(b) * MiB;
  net.createServer((s) => {
    let out = new Uint8Array(size);
    let off = 0;
    let t0 = 0;
    let n = 0;
    s.on('data', (d) => {
      if (!t0) t0 = performance.now();
      out.set(d.length <= size - off ? d : d.subarray(0, size - off), off);
      off += d.length;
      if (off < size) return;
      console.log(`call ${++n}: ${(performance.now() - t0).toFixed(1)}`);
      off = 0;
      t0 = 0;
      out = new Uint8Array(size);
      s.write('k');
    });
  }).listen(0, '127.0.0.1', function () { console.log(`ready ${this.address().port}`); });
} else if (role === 'forward') {
  net.createServer((up) => {
    const down = net.connect(Number(b), '127.0.0.1');
    up.pipe(down);
    down.pipe(up);
  }).listen(0, '127.0.0.1', function () { console.log(`ready ${this.address().port}`); });
} else if (role === 'source') {
  const s = net.connect(Number(a), '127.0.0.1');
  // A ring of buffers, as the runtime reads into: the socket never holds more than its high-water
  // mark (16 KiB) plus one chunk once write() asks to wait, so a buffer 8 chunks old has left.
  const ring = Array.from({ length: 8 }, () => Buffer.allocUnsafe(MiB));
  let k = 0;
  let calls = 0;
  const send = () => {
    const fd = fs.openSync(b, 'r');
    const pump = () => {
      for (;;) {
        const buf = ring[k++ % ring.length];
        const n = fs.readSync(fd, buf, 0, MiB, null);
        if (n === 0) return fs.closeSync(fd);
        if (!s.write(buf.subarray(0, n))) return s.once('drain', pump);
      }
    };
    pump();
  };
  s.on('data', () => (++calls < 3 ? send() : (s.end(), console.log('done'))));
  s.on('connect', send);
} else if (role === 'disk') {
  const size = Number(b) * MiB;
  const buf = Buffer.alloc(MiB, 0x5a);
  for (let i = 1; i <= 3; i++) {
    const t0 = performance.now();
    const tmp = `${a}.tmp`;
    const fd = fs.openSync(tmp, 'w');
    for (let off = 0; off < size; off += MiB) fs.writeSync(fd, buf, 0, Math.min(MiB, size - off));
    fs.closeSync(fd);
    fs.renameSync(tmp, a);
    console.log(`call ${i}: ${(performance.now() - t0).toFixed(1)}`);
    fs.rmSync(a);
  }
  console.log('done');
}
