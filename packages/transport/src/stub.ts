// Typed stubs over an RpcPeer, and the two one-call helpers expose() and connect(). No Node-only imports.
import { ValidationError } from './errors.js';
import type { Link } from './link.js';
import type { CallOptions, ExposeOptions, RpcPeerOptions } from './options.js';
import { RpcPeer } from './peer.js';

/** The remote view of T: every method returns a Promise of its (awaited) result. */
export type Remote<T> = {
  [K in keyof T as T[K] extends (...args: never[]) => unknown ? K : never]: T[K] extends (...args: infer A) => infer R
    ? (...args: A) => Promise<Awaited<R>>
    : never;
};

type AnyFn = (...args: unknown[]) => unknown;

const STUB_PEER = Symbol('rtfmri.stub.peer');
const STUB_OPTIONS = Symbol('rtfmri.stub.options');

export function makeStub<T extends object>(peer: RpcPeer, options: CallOptions & { methods?: readonly string[] }): Remote<T> {
  const { methods, ...callOptions } = options;
  const cache = new Map<string, AnyFn>();
  const method = (name: string): AnyFn => {
    let f = cache.get(name);
    if (!f) {
      f = (...args: unknown[]) => peer.call(name, args, callOptions);
      cache.set(name, f);
    }
    return f;
  };
  if (methods) {
    const o: Record<string | symbol, unknown> = Object.create(null);
    for (const m of methods) o[m] = method(m);
    o[STUB_PEER] = peer;
    o[STUB_OPTIONS] = options;
    return Object.freeze(o) as Remote<T>;
  }
  return new Proxy(Object.create(null), {
    get(_t, prop) {
      if (prop === STUB_PEER) return peer;
      if (prop === STUB_OPTIONS) return options;
      // Not thenable (so `await stub` works) and no symbol probing.
      if (typeof prop !== 'string' || prop === 'then' || prop === 'toJSON') return undefined;
      return method(prop);
    },
  }) as Remote<T>;
}

/** The RpcPeer behind a stub made by connect() or peer.stub(). */
export function peerOf(stub: object): RpcPeer {
  const p = (stub as Record<symbol, unknown>)[STUB_PEER];
  if (!(p instanceof RpcPeer)) throw new ValidationError('not an rtfmri stub');
  return p;
}

/** The same stub with other call options (deadline, signal, compress) for the calls made through it. */
export function withOptions<S extends object>(stub: S, options: CallOptions): S {
  const peer = peerOf(stub);
  const prev = ((stub as Record<symbol, unknown>)[STUB_OPTIONS] ?? {}) as CallOptions & { methods?: readonly string[] };
  return makeStub(peer, { ...prev, ...options }) as unknown as S;
}

export type ExposeTarget = Link | RpcPeer;

/** Serve `methods` of `impl` on a link (a new RpcPeer) or on an existing peer. Returns the peer. */
export function expose(target: ExposeTarget, impl: object, methods: readonly string[], options?: RpcPeerOptions & ExposeOptions): RpcPeer {
  const peer = target instanceof RpcPeer ? target : new RpcPeer(target, options);
  return peer.expose(impl, methods, options ?? {});
}

/** A typed stub for the remote object on a link (a new RpcPeer) or an existing peer. */
export function connect<T extends object>(target: ExposeTarget, options?: RpcPeerOptions & CallOptions & { methods?: readonly string[] }): Remote<T> {
  const { timeoutMs, deadline, signal, compress, methods, ...peerOptions } = options ?? {};
  const peer = target instanceof RpcPeer ? target : new RpcPeer(target, peerOptions);
  return makeStub<T>(peer, { timeoutMs, deadline, signal, compress, methods });
}
