// Credentials with roles (DESIGN.md trust model). Browser-safe: the SDK parses its own client
// token; only the relay (which holds the site secret) mints and verifies.
//
// The site secret (relay `--token-file`, and the control room's `serve`) never reaches an
// experiment. From it:
//   runtime key for name N   = HMAC(secret, "rtfmri/1 runtime\n" N)           bound to that name
//   client token             = "rtfmri1.c." b64url(claims JSON) "." b64url(sig)
//                sig         = HMAC(secret, "rtfmri/1 client\n" b64url(claims))   the client's key
// A client token says which runtimes and which methods it opens, and until when. Its holder
// proves knowledge of `sig` without sending it (challenge-response over the claims); the relay
// recomputes `sig` from the claims, so it keeps no list of issued tokens. No client token can
// yield a runtime key (that needs the secret), so no client can register a runtime.
import { hmacSha256 } from '@rtfmri/transport';
import { DATA_INTERFACE_METHODS } from './methods.js';
import { FEEDBACK_METHODS, PAGE_FEEDBACK_METHODS, DISPLAY_FEEDBACK_METHODS } from './feedback-methods.js';

export * from './feedback-methods.js';

/** Every method a client token can name: the DataInterface's and the feedback channel's. */
export const ALL_METHODS: readonly string[] = [...DATA_INTERFACE_METHODS, ...FEEDBACK_METHODS];

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

export const CLIENT_TOKEN_PREFIX = 'rtfmri1.c.';
export const RUNTIME_TOKEN_PREFIX = 'rtfmri1.r.';

/** Named method sets a client token can carry (issue: a participant page gets `stream`). */
export const METHOD_SCOPES: Record<string, readonly string[]> = {
  stream: ['initScannerStream', 'getImageData', 'closeStream', 'getClockSkew', 'ping'],
  // Series discovery hands out folder and file names (Siemens session folders often carry the
  // patient's name), so it is 'read', not 'stream': a participant page gets the series' folder
  // from the experiment, not by discovering it.
  read: ['initScannerStream', 'getImageData', 'closeStream', 'getClockSkew', 'ping', 'getFile', 'getNewestFile', 'initWatch', 'watchFile', 'listFiles', 'listDirs', 'getAllowedFileTypes', 'initSeriesWatch', 'nextSeries', 'closeSeriesWatch'],
  // A participant's page: its feedback queue and its responses, nothing of the file system.
  feedback: [...PAGE_FEEDBACK_METHODS, 'ping'],
  // An experimenter's monitor: plots, logs and run status of the web display.
  display: [...DISPLAY_FEEDBACK_METHODS, 'ping'],
  all: ALL_METHODS,
};

export interface ClientClaims {
  /** Who the client is (logs; the relay's `id` must match). */
  sub: string;
  /** Runtimes it may reach: names, or '*' for any. */
  runtimes: readonly string[] | '*';
  /** Methods it may call: names, or '*' for every DataInterface method. */
  methods: readonly string[] | '*';
  /** Expiry, seconds since the epoch (absent: no expiry). */
  exp?: number;
}

/** What a verified client may do, and the key its challenge-response uses. */
export interface ClientGrant {
  key: Uint8Array;
  runtimes: readonly string[] | '*';
  methods: readonly string[];
  /** Expiry, ms since the epoch. */
  expiresAtMs?: number;
}

export function b64url(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function fromB64url(text: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return undefined;
  const b = atob(text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4));
  const out = new Uint8Array(b.length);
  for (let i = 0; i < b.length; i++) out[i] = b.charCodeAt(i);
  return out;
}

function secretBytes(secret: string | Uint8Array): Uint8Array {
  if (typeof secret !== 'string') return secret;
  if (secret.length === 0) throw new RangeError('the site secret is empty');
  return enc.encode(secret);
}

/** The key a runtime called `name` proves itself with. */
export function runtimeKey(secret: string | Uint8Array, name: string): Uint8Array {
  return hmacSha256(secretBytes(secret), enc.encode(`rtfmri/1 runtime\n${name}`));
}

/** A runtime credential for one name that does not reveal the site secret (`rtfmri token runtime`). */
export function mintRuntimeToken(secret: string | Uint8Array, name: string): string {
  return `${RUNTIME_TOKEN_PREFIX}${name}.${b64url(runtimeKey(secret, name))}`;
}

/**
 * The key a runtime uses for its name: a minted runtime token carries it (and must be for this
 * name); any other string is the site secret, from which it is derived.
 */
export function runtimeKeyFromToken(token: string, name: string): Uint8Array {
  if (token.startsWith(RUNTIME_TOKEN_PREFIX)) {
    const rest = token.slice(RUNTIME_TOKEN_PREFIX.length);
    const dot = rest.lastIndexOf('.');
    const key = dot > 0 ? fromB64url(rest.slice(dot + 1)) : undefined;
    if (!key || key.length !== 32) throw new RangeError('malformed runtime token');
    if (rest.slice(0, dot) !== name) throw new RangeError(`this runtime token is for '${rest.slice(0, dot)}', not '${name}'`);
    return key;
  }
  return runtimeKey(token, name);
}

function normaliseMethods(methods: ClientClaims['methods'] | string): readonly string[] {
  if (methods === '*') return ALL_METHODS;
  if (typeof methods === 'string') {
    const scope = METHOD_SCOPES[methods];
    if (!scope) throw new RangeError(`unknown method scope '${methods}' (known: ${Object.keys(METHOD_SCOPES).join(', ')}, or a list of methods)`);
    return scope;
  }
  const known = new Set<string>(ALL_METHODS);
  for (const m of methods) if (!known.has(m)) throw new RangeError(`unknown method '${m}'`);
  return methods;
}

function clientSig(secret: Uint8Array, claimsB64: string): Uint8Array {
  return hmacSha256(secret, enc.encode(`rtfmri/1 client\n${claimsB64}`));
}

export interface MintClientOptions {
  sub?: string;
  runtimes?: readonly string[] | '*';
  /** A scope name ('stream', 'read', 'all'), a list of methods, or '*'. Default 'all'. */
  methods?: readonly string[] | '*' | string;
  /** Lifetime in seconds from now (absent: no expiry). */
  ttlSeconds?: number;
}

/** A scoped client token (`rtfmri token client`, `hostRelay().clientToken()`). */
export function mintClientToken(secret: string | Uint8Array, opts: MintClientOptions = {}): string {
  const methods = opts.methods === undefined || opts.methods === '*' || opts.methods === 'all' ? '*' : normaliseMethods(opts.methods);
  const claims: ClientClaims = {
    sub: opts.sub ?? 'experiment',
    runtimes: opts.runtimes ?? '*',
    methods,
    ...(opts.ttlSeconds !== undefined ? { exp: Math.floor(Date.now() / 1000 + opts.ttlSeconds) } : {}),
  };
  const claimsB64 = b64url(enc.encode(JSON.stringify(claims)));
  return `${CLIENT_TOKEN_PREFIX}${claimsB64}.${b64url(clientSig(secretBytes(secret), claimsB64))}`;
}

/** Client side: the claims to send and the key to prove with; undefined when not a client token. */
export function parseClientToken(token: string): { claimsB64: string; claims: ClientClaims; key: Uint8Array } | undefined {
  if (!token.startsWith(CLIENT_TOKEN_PREFIX)) return undefined;
  const [claimsB64, sigB64, extra] = token.slice(CLIENT_TOKEN_PREFIX.length).split('.');
  if (!claimsB64 || !sigB64 || extra !== undefined) return undefined;
  const key = fromB64url(sigB64);
  const claims = parseClaims(claimsB64);
  return key && key.length === 32 && claims ? { claimsB64, claims, key } : undefined;
}

/** Relay side: the claims of a HELLO, checked for shape (the signature is checked by the caller). */
export function parseClaims(claimsB64: string): ClientClaims | undefined {
  if (claimsB64.length > 2048) return undefined;
  const raw = fromB64url(claimsB64);
  if (!raw) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(dec.decode(raw));
  } catch {
    return undefined;
  }
  if (!v || typeof v !== 'object') return undefined;
  const c = v as Record<string, unknown>;
  const names = (x: unknown) => x === '*' || (Array.isArray(x) && x.length <= 256 && x.every((s) => typeof s === 'string' && s.length <= 128));
  if (typeof c.sub !== 'string' || c.sub.length > 128 || !names(c.runtimes) || !names(c.methods)) return undefined;
  if (c.exp !== undefined && (typeof c.exp !== 'number' || !Number.isFinite(c.exp))) return undefined;
  return { sub: c.sub, runtimes: c.runtimes as ClientClaims['runtimes'], methods: c.methods as ClientClaims['methods'], ...(c.exp !== undefined ? { exp: c.exp as number } : {}) };
}

/** Relay side: the grant of a minted client token's claims, given the site secret. */
export function grantFromClaims(secret: string | Uint8Array, claimsB64: string): ClientGrant | undefined {
  const claims = parseClaims(claimsB64);
  if (!claims) return undefined;
  let methods: readonly string[];
  try {
    methods = normaliseMethods(claims.methods);
  } catch {
    return undefined;
  }
  return {
    key: clientSig(secretBytes(secret), claimsB64),
    runtimes: claims.runtimes,
    methods,
    ...(claims.exp !== undefined ? { expiresAtMs: claims.exp * 1000 } : {}),
  };
}

export { normaliseMethods };
