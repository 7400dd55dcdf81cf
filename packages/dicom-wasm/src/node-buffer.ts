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
  };
}).Buffer;
