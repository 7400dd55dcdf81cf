import { describe, expect, it } from 'vitest';
import {
  grantFromClaims, METHOD_SCOPES, mintClientToken, mintRuntimeToken, parseClientToken, runtimeKey, runtimeKeyFromToken,
} from '../src/tokens.js';

const SECRET = 'site-secret-for-tests';
const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

describe('role-bound credentials', () => {
  it('a runtime key is bound to its name and to the secret', () => {
    expect(hex(runtimeKey(SECRET, 'scanner1'))).toBe(hex(runtimeKey(SECRET, 'scanner1')));
    expect(hex(runtimeKey(SECRET, 'scanner1'))).not.toBe(hex(runtimeKey(SECRET, 'scanner2')));
    expect(hex(runtimeKey(SECRET, 'scanner1'))).not.toBe(hex(runtimeKey(SECRET + 'x', 'scanner1')));
  });

  it('a minted runtime token carries the derived key and only for its own name', () => {
    const t = mintRuntimeToken(SECRET, 'scanner1');
    expect(t).not.toContain(SECRET);
    expect(hex(runtimeKeyFromToken(t, 'scanner1'))).toBe(hex(runtimeKey(SECRET, 'scanner1')));
    expect(() => runtimeKeyFromToken(t, 'scanner2')).toThrow(/for 'scanner1', not 'scanner2'/);
    // Any other string is a site secret, from which the key is derived.
    expect(hex(runtimeKeyFromToken(SECRET, 'scanner2'))).toBe(hex(runtimeKey(SECRET, 'scanner2')));
  });

  it('a client token round-trips its claims; its key is what the relay recomputes from the secret', () => {
    const t = mintClientToken(SECRET, { sub: 'page', runtimes: ['scanner1'], methods: 'stream', ttlSeconds: 60 });
    expect(t).not.toContain(SECRET);
    const p = parseClientToken(t)!;
    expect(p.claims.sub).toBe('page');
    expect(p.claims.runtimes).toEqual(['scanner1']);
    expect(p.claims.methods).toEqual(METHOD_SCOPES.stream);
    const g = grantFromClaims(SECRET, p.claimsB64)!;
    expect(hex(g.key)).toBe(hex(p.key));
    expect(g.methods).toEqual(METHOD_SCOPES.stream);
    expect(g.expiresAtMs).toBeGreaterThan(Date.now());
    // Another secret gives another key: a token from one site is worthless at another.
    expect(hex(grantFromClaims('other', p.claimsB64)!.key)).not.toBe(hex(p.key));
  });

  it('edited claims do not keep the key (widening a scope invalidates the token)', () => {
    const p = parseClientToken(mintClientToken(SECRET, { sub: 'page', methods: 'stream' }))!;
    const widened = Buffer.from(JSON.stringify({ ...p.claims, methods: '*' })).toString('base64url');
    expect(hex(grantFromClaims(SECRET, widened)!.key)).not.toBe(hex(p.key));
  });

  it('malformed tokens and claims are refused without throwing', () => {
    for (const t of ['', 'rtfmri1.c.', 'rtfmri1.c.abc', 'rtfmri1.c.a.b.c', 'rtfmri1.c.!!!.xx', 'plain-token']) expect(parseClientToken(t)).toBeUndefined();
    for (const c of ['', 'e30', Buffer.from('{"sub":1}').toString('base64url'), 'x'.repeat(5000)]) expect(grantFromClaims(SECRET, c)).toBeUndefined();
    expect(grantFromClaims(SECRET, Buffer.from(JSON.stringify({ sub: 'a', runtimes: '*', methods: ['eval'] })).toString('base64url'))).toBeUndefined();
    expect(() => mintClientToken(SECRET, { methods: 'everything' })).toThrow(/unknown method scope/);
  });
});
