// Node's Buffer when there is one (read from globalThis: src/ imports no Node built-in, so it
// runs in browsers too). Its native compares (memcmp) beat a loop over typed arrays on the hot
// paths: the plan replay's row tables, the CSA header patch; its base64 decoder is native too
// (the inlined module). Without it callers loop.

export interface NodeBufferView {
  equals(other: unknown): boolean;
  compare(target: unknown, targetStart: number, targetEnd: number, sourceStart: number, sourceEnd: number): number;
}

export const NodeBuf = (globalThis as {
  Buffer?: {
    from(b: ArrayBufferLike, offset: number, length: number): NodeBufferView;
    from(s: string, encoding: 'base64'): Uint8Array;
    allocUnsafeSlow(n: number): Uint8Array;
  };
}).Buffer;

/**
 * `n` bytes of memory of its own whose contents are NOT initialised in Node (Buffer.allocUnsafeSlow:
 * a 300-450 KB zero fill costs about as much as copying the file), zeroed elsewhere. Only for
 * callers that write every byte before anyone reads it: stale heap bytes could be another file's.
 */
export function uninitialized(n: number): Uint8Array<ArrayBuffer> {
  if (!NodeBuf || n < 4096) return new Uint8Array(n);
  const b = NodeBuf.allocUnsafeSlow(n);
  return new Uint8Array(b.buffer as ArrayBuffer, b.byteOffset, n);
}

/**
 * A copy of bytes[start, end) in memory of its own (a plain Uint8Array, byteOffset 0). What a
 * cache keeps across calls must be one: callers pass Node Buffers (fs reads, the runtime's reused
 * scratch), and `Buffer#slice()` is a view of the caller's memory, not a copy, so a value "copied"
 * with `bytes.slice()` would change when the caller reads the next file into that memory.
 */
export function ownCopy(bytes: Uint8Array, start = 0, end = bytes.length): Uint8Array<ArrayBuffer> {
  const n = end - start;
  const c = new Uint8Array(n);
  // short values by hand: a subarray object costs more than copying a few dozen bytes
  if (n <= 64) for (let i = 0; i < n; i++) c[i] = bytes[start + i];
  else c.set(bytes.subarray(start, end));
  return c;
}
