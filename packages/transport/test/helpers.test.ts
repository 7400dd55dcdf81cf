// The small shared helpers (hashes, hex) and the test signaling carriers.
import { describe, expect, it } from 'vitest';
import * as T from '../src/node.js';
import { createLocalSignalerPair, linkSignaler } from './signaling.mjs';

const enc = new TextEncoder();

describe('bytes and hashes', () => {
  it('sha256, hmacSha256 (RFC 4231 case 2 and a key longer than a block), hex, timingSafeEqual', () => {
    expect(T.hex(T.sha256(enc.encode('abc')))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(T.hex(T.hmacSha256(enc.encode('Jefe'), enc.encode('what do ya want for nothing?')))).toBe(
      '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    );
    // RFC 4231 case 6: a 131-byte key (hashed first)
    expect(T.hex(T.hmacSha256(new Uint8Array(131).fill(0xaa), enc.encode('Test Using Larger Than Block-Size Key - Hash Key First')))).toBe(
      '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54',
    );
    expect(T.hex(Uint8Array.of(0, 1, 15, 16, 255))).toBe('00010f10ff');
    expect(T.timingSafeEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 2))).toBe(true);
    expect(T.timingSafeEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 3))).toBe(false);
    expect(T.timingSafeEqual(Uint8Array.of(1, 2), Uint8Array.of(1))).toBe(false);
    expect(T.randomBytes(16)).toHaveLength(16);
    expect(T.concatParts([Uint8Array.of(1), Uint8Array.of(2, 3)])).toEqual(Uint8Array.of(1, 2, 3));
  });
});

describe('test signaling carriers', () => {
  it('createLocalSignalerPair: a handler that unsubscribes while a message is delivered does not make the next one miss it', async () => {
    const [a, b] = createLocalSignalerPair();
    const got: string[] = [];
    const off1 = b.onSignal(() => {
      got.push('first');
      off1();
    });
    b.onSignal(() => got.push('second'));
    a.send({ kind: 'webrtc', session: 's' });
    await new Promise((r) => setTimeout(r, 10));
    expect(got).toEqual(['first', 'second']);
    a.send({ kind: 'webrtc', session: 's' });
    await new Promise((r) => setTimeout(r, 10));
    expect(got).toEqual(['first', 'second', 'second']);
  });

  it('linkSignaler carries signals as JSON frames over a plain link; other frames are ignored', async () => {
    const [l1, l2] = T.createLocalLinkPair();
    const s1 = linkSignaler(l1);
    const s2 = linkSignaler(l2);
    const got: unknown[] = [];
    s2.onSignal((m) => got.push(m));
    l1.send(Uint8Array.of(0xff, 0x00));
    s1.send({ kind: 'webrtc', session: 'x', type: 'offer', sdp: 'v=0' });
    await new Promise((r) => setTimeout(r, 10));
    expect(got).toEqual([{ kind: 'webrtc', session: 'x', type: 'offer', sdp: 'v=0' }]);
  });
});
