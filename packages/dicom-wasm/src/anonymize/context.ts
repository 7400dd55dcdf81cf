// Encodings and text helpers shared by the anonymizer's TypeScript side.

export interface Enc {
  explicit: boolean;
  littleEndian: boolean;
}

export const EXPLICIT_LE: Enc = { explicit: true, littleEndian: true };

/**
 * Bytes as Latin-1 text (one character per byte, as the UID map hashes them: not values.ts's
 * decodeText, whose TextDecoder reads 0x80-0x9F as windows-1252); in chunks, so a hostile
 * multi-megabyte value cannot overflow the call stack.
 */
export function latin1(bytes: Uint8Array, start: number, end: number): string {
  if (end - start <= 4096) return String.fromCharCode.apply(null, bytes.subarray(start, end) as unknown as number[]);
  let s = '';
  for (let i = start; i < end; i += 4096) s += String.fromCharCode.apply(null, bytes.subarray(i, Math.min(end, i + 4096)) as unknown as number[]);
  return s;
}

/** A short text value straight from the bytes (UIDs and private creators are ASCII by definition). */
export function asciiValue(bytes: Uint8Array, start: number, length: number): string {
  let end = start + length;
  while (end > start && (bytes[end - 1] === 0 || bytes[end - 1] === 0x20)) end--;
  return latin1(bytes, start, end);
}
