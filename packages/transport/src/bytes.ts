// Small byte helpers, one home for the links, the RPC and the relay's protocol. No Node-only imports.

/** One message from gather-write parts (the single part itself when there is one: no copy). */
export function concatParts(data: Uint8Array | readonly Uint8Array[]): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (data.length === 1) return data[0];
  let n = 0;
  for (const p of data) n += p.byteLength;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of data) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out;
}

/** Lower-case hex of the bytes. */
export function hex(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += (bytes[i] < 16 ? '0' : '') + bytes[i].toString(16);
  return s;
}

/** Cryptographically random bytes (Web Crypto: Node >= 19 and browsers, also on http:// pages). */
export function randomBytes(n: number): Uint8Array {
  const b = new Uint8Array(n);
  globalThis.crypto.getRandomValues(b);
  return b;
}
