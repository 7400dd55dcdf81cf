// Hostile frames from an authenticated peer (issue 10): each one used to freeze a process or make
// it allocate far more than it received. Frames are written by hand here, byte by byte, as an
// attacker would; the exposed side must answer in linear time with bounded memory, and keep
// serving a healthy peer.
import { deflateSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import * as T from '../src/node.js';

function varint(v: number): number[] {
  const out: number[] = [];
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return out;
}
const utf8 = (s: string) => [...varint(Buffer.byteLength(s)), ...Buffer.from(s)];

/** A REQUEST frame: [0x10][id][flags][method][rawLen?] then `rest` (the value, compressed or not). */
function request(id: number, flags: number, method: string, head: number[], rest: Uint8Array): Uint8Array {
  return Uint8Array.from([0x10, ...varint(id), flags, ...utf8(method), ...head, ...rest]);
}
const MF_COMPRESSED = 2;
const MF_PARTS = 8;

function served() {
  const errors: Error[] = [];
  const [s, c] = T.createLocalLinkPair();
  const impl = { async len(b: Uint8Array) { return b.length; }, async echo(x: unknown) { return x; } };
  T.expose(s, impl, ['len', 'echo'], { onError: (e) => errors.push(e) });
  return { attacker: c, server: s, errors };
}

/** A second, healthy client of the same service process. */
function healthy() {
  const [s, c] = T.createLocalLinkPair();
  T.expose(s, { async echo(x: unknown) { return x; } }, ['echo']);
  return T.connect<{ echo(x: unknown): Promise<unknown> }>(c);
}

describe('hostile frames', () => {
  it('a 256 KiB BigInt decodes in linear time and round-trips exactly (it took 34 s before)', async () => {
    const [s, c] = T.createLocalLinkPair();
    T.expose(s, { async echo(x: unknown) { return x; } }, ['echo']);
    const api = T.connect<{ echo(x: bigint): Promise<bigint> }>(c);
    const bytes = new Uint8Array(256 * 1024).map((_, i) => (i * 131 + 7) & 0xff);
    const big = BigInt('0x' + Buffer.from(bytes).toString('hex'));
    for (const v of [big, -big, 0n, -1n, 255n, 256n, 2n ** 64n - 1n]) expect(await api.echo(v)).toBe(v);
  });

  it('a compressed value claiming 1 GiB from a few KB is refused before any allocation; the link closes', async () => {
    const { attacker, server, errors } = served();
    const bomb = deflateSync(new Uint8Array(8 << 20));
    const before = process.memoryUsage().arrayBuffers;
    attacker.send(request(1, MF_COMPRESSED, 'len', varint(1 << 30), bomb));
    await server.closed;
    expect(errors.map((e) => e.name)).toContain('ProtocolError');
    expect(errors.map((e) => e.message).join(' ')).toMatch(/compressed value of 1073741824 bytes inflated exceeds the limit of 67108864/);
    // Within the absolute cap, the ratio bounds it: 32 MiB from ~8 KB is more than 64x.
    const second = served();
    second.attacker.send(request(1, MF_COMPRESSED, 'len', varint(32 << 20), bomb));
    await second.server.closed;
    expect(second.errors.map((e) => e.message).join(' ')).toMatch(/claims 33554432 bytes from \d+ \(more than 64x\)/);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 << 20);
    expect(await healthy().echo('still here')).toBe('still here');
  });

  it('a byte part declared 1.5 GiB costs what actually arrives, not what was declared', async () => {
    const { attacker, server } = served();
    const declared = 1536 << 20;
    const before = process.memoryUsage().arrayBuffers;
    // [Array of 1: BlobPart(declared)], then one DATA frame of 1 KiB for part 0.
    attacker.send(request(1, MF_PARTS, 'len', [], Uint8Array.from([0x09, 1, 0x0d, ...varint(declared)])));
    attacker.send(Uint8Array.from([0x14, 1, 0, 0, ...new Uint8Array(1024)]));
    await new Promise((r) => setTimeout(r, 50));
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 << 20);
    attacker.close('done');
    await server.closed;
  });

  it('frames above one chunk plus headers (1 MiB + 64 KiB) are refused; a 1 MiB value still travels', async () => {
    const { attacker, server, errors } = served();
    attacker.send(request(1, 0, 'echo', [], Uint8Array.from([0x08, ...varint(2 << 20), ...new Uint8Array(2 << 20)])));
    await server.closed;
    expect(errors.map((e) => e.message).join(' ')).toMatch(/exceeds the limit/);
    const api = healthy();
    const mib = new Uint8Array(1 << 20).fill(7);
    expect(((await api.echo(mib)) as Uint8Array).length).toBe(1 << 20);
  });

  it('a highly compressible 8 MiB value is sent uncompressed rather than as something the receiver refuses', async () => {
    const [s, c] = T.createLocalLinkPair();
    T.expose(s, { async echo(x: unknown) { return x; } }, ['echo']);
    const api = T.connect<{ echo(x: unknown): Promise<unknown> }>(c);
    const many = Array.from({ length: 400_000 }, () => 'same');
    expect(((await T.withOptions(api, { compress: true }).echo(many)) as string[]).length).toBe(400_000);
  });
});
