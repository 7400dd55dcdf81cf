// Frame types of the RPC protocol (see README.md, "Wire format"). One Link message = one frame.

// 0x01-0x04 (the old HELLO/CHALLENGE/AUTH/WELCOME handshake) and 0x08 (SIGNAL) are retired: a
// peer that receives them closes the link with a ProtocolError. Do not reuse them.
export const enum F {
  Close = 0x05, // error value: why the sender is closing
  Ping = 0x06, // seq varint
  Pong = 0x07, // seq varint (an unsolicited PONG 0 is the heartbeat)
  Request = 0x10, // callId, flags, [timeoutMs], method, [rawLen], [extLen] | value
  Result = 0x11, // callId, flags, [rawLen], [extLen] | value
  Fail = 0x12, // callId, error value
  Cancel = 0x13, // callId
  Data = 0x14, // callId, flags, part, [rawLen], bytes | error value
  Credit = 0x15, // callId, flags, part, bytes
}

/** Request/Result flags. */
export const MF_DEADLINE = 1; // Request only: a timeoutMs varint follows (time left, relative: immune to clock skew)
export const MF_COMPRESSED = 2; // the value bytes are deflated; rawLen varint gives the inflated size
export const MF_EXTERNAL = 4; // the value is too big for one frame: it travels as part 0 (extLen varint)
export const MF_PARTS = 8; // DATA frames follow; after a result's, a DATA frame with DF_DONE

/** Data/Credit flags. */
export const DF_RESULT = 1; // 0: a part of the request; 1: a part of the result
export const DF_COMPRESSED = 2; // Data: deflated chunk, rawLen varint precedes it
export const DF_END = 4; // Data: end of a stream part
export const DF_ERROR = 8; // Data: the stream failed; an error value follows
export const DF_RAW = 32; // Data: no payload here; the next link message is the payload, raw
export const DF_DONE = 16; // Data: every part of this result has been sent (part 0, no payload)
export const CF_CANCEL = 2; // Credit: the consumer stopped reading this stream

/**
 * Bounds on what a peer's compressed data may cost (a 1 MiB value inflated to 1 GiB was accepted).
 * A structured value (its byte parts travel as chunks) inflates to at most 64 MiB, and no
 * compressed piece above a 1 MiB floor to more than 64x its compressed size; the sender does not
 * compress what the receiver would refuse (real data compresses far less).
 */
export const MAX_INFLATED_VALUE = 64 << 20;
export const MAX_INFLATE_RATIO = 64;
export const INFLATE_FLOOR = 1 << 20;

/** Whether a receiver accepts `rawLen` bytes inflated from `compressedLen`. */
export function inflateAllowed(rawLen: number, compressedLen: number): boolean {
  return rawLen <= INFLATE_FLOOR || rawLen <= compressedLen * MAX_INFLATE_RATIO;
}
