// A client that keeps one RpcPeer connected, redialling with exponential backoff. No Node-only imports.
import { DisconnectedError } from './errors.js';
import type { Link } from './link.js';
import { RpcPeer, type CallOptions, type Remote, type RpcPeerOptions } from './rpc.js';

export interface ReconnectOptions {
  /** Opens a new link (e.g. () => connectWs(url)). May throw/reject: counts as a failed attempt. */
  dial: () => Promise<Link> | Link;
  /** Options of each RpcPeer (role defaults to 'client'). */
  peer: Omit<RpcPeerOptions, 'role'> & { role?: 'client' | 'server' };
  /** Backoff: first delay, cap, growth factor, +-jitter fraction. Defaults 100 ms, 5 s, 2, 0.2. */
  minDelayMs?: number;
  maxDelayMs?: number;
  factor?: number;
  jitter?: number;
  /** Called with each new authenticated peer (expose methods on it, resume streams, ...). */
  onConnect?: (peer: RpcPeer) => void | Promise<void>;
  /** Called when a peer is lost (before the next attempt). */
  onDisconnect?: (err: Error) => void;
  /** Auth failures are not retried unless this is true. */
  retryAuthErrors?: boolean;
}

export class ReconnectingClient {
  peer: RpcPeer | undefined;
  private stopped = false;
  private attempt = 0;
  private waiters: Array<{ resolve: (p: RpcPeer) => void; reject: (e: Error) => void }> = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  lastError: Error | undefined;

  constructor(private options: ReconnectOptions) {
    void this.connectLoop();
  }

  get connected(): boolean {
    return this.peer?.state === 'ready';
  }

  /** The current peer, waiting up to `timeoutMs` for a connection. */
  async getPeer(timeoutMs = 0): Promise<RpcPeer> {
    if (this.peer?.state === 'ready') return this.peer;
    if (this.stopped) throw new DisconnectedError('not connected: client closed');
    if (timeoutMs <= 0) throw new DisconnectedError(`not connected${this.lastError ? `: ${this.lastError.message}` : ''}`);
    return new Promise((resolve, reject) => {
      const w = { resolve, reject };
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(new DisconnectedError(`not connected${this.lastError ? `: ${this.lastError.message}` : ''}`));
      }, timeoutMs);
      w.resolve = (p) => {
        clearTimeout(t);
        resolve(p);
      };
      this.waiters.push(w);
    });
  }

  /** A stub that uses whichever peer is current; calls fail at once with DisconnectedError while down (or wait `waitMs`). */
  stub<T extends object>(options: CallOptions & { waitMs?: number } = {}): Remote<T> {
    const { waitMs = 0, ...callOptions } = options;
    return new Proxy(Object.create(null), {
      get: (_t, prop) => {
        if (typeof prop !== 'string' || prop === 'then' || prop === 'toJSON') return undefined;
        return async (...args: unknown[]) => (await this.getPeer(waitMs)).call(prop, args, callOptions);
      },
    }) as Remote<T>;
  }

  close(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.peer?.close('client closed');
    for (const w of this.waiters) w.reject(new DisconnectedError('not connected: client closed'));
    this.waiters = [];
  }

  private delay(): number {
    const { minDelayMs = 100, maxDelayMs = 5000, factor = 2, jitter = 0.2 } = this.options;
    const base = Math.min(maxDelayMs, minDelayMs * factor ** Math.max(0, this.attempt - 1));
    return Math.max(0, base * (1 + (Math.random() * 2 - 1) * jitter));
  }

  private async connectLoop(): Promise<void> {
    while (!this.stopped) {
      try {
        const link = await this.options.dial();
        const peer = new RpcPeer(link, { ...(this.options.peer as RpcPeerOptions), role: this.options.peer.role ?? 'client' });
        await peer.ready;
        if (this.stopped) {
          peer.close('client closed');
          return;
        }
        this.peer = peer;
        this.attempt = 0;
        await this.options.onConnect?.(peer);
        const waiters = this.waiters;
        this.waiters = [];
        for (const w of waiters) w.resolve(peer);
        const info = await link.closed;
        this.lastError = info.error ?? new DisconnectedError(`not connected: ${info.reason}`);
        this.options.onDisconnect?.(this.lastError);
        if (info.error?.name === 'AuthError' && !this.options.retryAuthErrors) {
          this.stopped = true;
        }
      } catch (e) {
        this.lastError = e as Error;
        if ((e as Error).name === 'AuthError' && !this.options.retryAuthErrors) {
          this.stopped = true;
          for (const w of this.waiters) w.reject(e as Error);
          this.waiters = [];
          return;
        }
      }
      if (this.stopped) return;
      this.attempt++;
      await new Promise<void>((res) => (this.timer = setTimeout(res, this.delay())));
    }
  }
}

export function createReconnectingClient(options: ReconnectOptions): ReconnectingClient {
  return new ReconnectingClient(options);
}
