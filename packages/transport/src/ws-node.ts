// WebSocket links in Node on the `ws` package (server and client; ws:// and wss://).
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import v8 from 'node:v8';
import WebSocket, { WebSocketServer } from 'ws';
import { BaseLink, type Link } from './link.js';
import { DisconnectedError, ProtocolError } from './errors.js';

/** Default ws maxPayload: the RPC's default max frame plus slack (the RPC checks its own limit too). */
export const DEFAULT_MAX_PAYLOAD = 1024 * 1024 + 128 * 1024;

const BINARY = { binary: true } as const;
/** Bytes queued under one cork that make a send flush at once (see send). */
const FLUSH_AT = 1024 * 1024;
const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost', '[::1]']);

/**
 * Turns off V8's incremental marking for this process: for processes that pass bulk WebSocket
 * traffic through a small heap (`rtfmri relay`, `rtfmri serve`). Nearly all they allocate is
 * outside the heap (ws assembles every received message in a fresh buffer), their heaps sit at
 * about 8-9 MB, right at V8's threshold for starting incremental marking, and V8 kept starting it
 * as a soft-limit task and finishing it with a mark-compact that freed nothing, each with a main-
 * thread pause of 0.6-9.5 ms: per 3 GiB, 98-238 in the relay (getFile) and 193-312 in the runtime
 * (downloadFilesFromList to its disk). Without it: 1-5 (atomic, when the old generation does
 * fill); relay CPU 1.57 -> 0.46-0.53 s/GiB, runtime (download) 2.5-3.1 -> 1.8-2.1 s/GiB.
 *
 * This replaces the young-generation collections that were forced every 4 MiB of traffic (issue
 * 11's first answer to the same symptom): they kept the heap's young buffers from being promoted,
 * but each forced scavenge restarted the marking again, and in an experiment that keeps what it
 * receives they multiplied the mark-compacts. With marking off they only cost: alternate runs of
 * the bulk bench, forced scavenges on / off: relay 0.64-0.88 / 0.51-0.52 s/GiB, getFile
 * 0.74-1.11 / 0.79-1.09 GB/s, runtime peak RSS while writing a download 145-146 / 119-123 MiB,
 * 16-volume burst p99 23.7-24.3 / 20.6-20.9 ms (the relay's peak RSS rose 80 -> 100-104 MiB).
 */
export function disableIncrementalMarking(): void {
  try {
    v8.setFlagsFromString('--no-incremental-marking');
  } catch {
    // not settable here: the process keeps V8's default
  }
}

export class WsLink extends BaseLink {
  readonly kind = 'ws';
  readonly maxMessageSize: number;
  private drainArmed = false;

  constructor(
    readonly ws: WebSocket,
    maxPayload = DEFAULT_MAX_PAYLOAD,
  ) {
    super();
    this.maxMessageSize = maxPayload;
    this.lowWaterMark = 4 * 1024 * 1024;
    ws.binaryType = 'nodebuffer';
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) {
        this.close('text message on a binary link', new ProtocolError('text message on a binary link'));
        return;
      }
      this.deliver(data);
    });
    ws.on('close', (code: number, reason: Buffer) => {
      const why = reason.length ? reason.toString() : `code ${code}`;
      this.markClosed(`websocket closed (${why})`, code === 1009 ? new ProtocolError(`message too big (${why})`) : undefined);
    });
    ws.on('error', (err: Error) => {
      this.markClosed(`websocket error: ${err.message}`, new DisconnectedError(`not connected: ${err.message}`));
    });
    if (ws.readyState === WebSocket.OPEN) this.markOpen();
    else ws.once('open', () => this.markOpen());
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  send(data: Uint8Array | readonly Uint8Array[]): void {
    this.assertOpen();
    this.cork();
    // Parts are joined here rather than sent as a fragmented message: the receiving ws would join
    // the fragments anyway (a copy either way), and big payloads come as their own messages.
    const msg = data instanceof Uint8Array ? data : data.length === 1 ? data[0]! : Buffer.concat(data as Uint8Array[]);
    this.ws.send(msg, BINARY);
    // A stream pumped in microtasks would otherwise pile up to the high-water mark (8 MiB) under
    // one cork and reach the kernel in bursts, the socket idle in between; once a tick holds a
    // megabyte, hand it over now (small frames of the tick still leave together).
    if (this.corked && this.ws.bufferedAmount >= FLUSH_AT) this.uncork();
  }

  /**
   * Frames sent in one tick (a result header, its data header, the payload, DONE) leave in one
   * write: cork the socket on the first send of a tick, uncork on the next tick.
   */
  private corked: { cork(): void; uncork(): void } | null = null;
  private readonly uncork = () => {
    const sock = this.corked;
    this.corked = null;
    sock?.uncork();
  };
  private cork(): void {
    if (this.corked) return;
    const sock = (this.ws as unknown as { _socket?: { cork(): void; uncork(): void } })._socket;
    if (!sock) return;
    this.corked = sock;
    sock.cork();
    process.nextTick(this.uncork);
  }

  /**
   * The socket emits 'drain' only after a write was refused (its buffer went over its high-water
   * mark). Bytes can be buffered without that: a corked tick, or a write the kernel has not taken
   * yet. Then no 'drain' ever comes, so wait for it only when the socket says one is due, and
   * otherwise look again shortly (once the write completes, bufferedAmount drops).
   */
  protected armDrain(): void {
    if (this.drainArmed) return;
    const sock = (this.ws as unknown as { _socket?: NodeJS.EventEmitter & { writableNeedDrain?: boolean } })._socket;
    this.drainArmed = true;
    const check = () => {
      this.drainArmed = false;
      this.checkDrain();
    };
    if (sock?.writableNeedDrain) sock.once('drain', check);
    else setTimeout(check, 1).unref();
  }

  protected doClose(reason: string): void {
    const ws = this.ws;
    try {
      if (ws.readyState === WebSocket.OPEN) ws.close(1000, reason.slice(0, 120));
      else ws.terminate();
    } catch {
      ws.terminate();
    }
    // A dead peer never answers the close handshake: drop the socket soon.
    setTimeout(() => ws.terminate(), 1000).unref();
  }
}

export interface WsServerOptions {
  /** Listen on this port (0: pick one) and host (default 127.0.0.1)... */
  port?: number;
  host?: string;
  /** ...or attach to an existing http/https server (wss: pass an https.Server with cert/key). */
  server?: HttpServer | HttpsServer;
  path?: string;
  maxPayload?: number;
  /** Called for each accepted connection. Wrap the link in an RpcPeer there. */
  onLink: (link: Link, request: IncomingMessage) => void;
}

export interface WsServer {
  readonly port: number;
  /** ws://host:port/path (or wss:// when attached to an https server). */
  readonly url: string;
  readonly links: Set<Link>;
  close(): Promise<void>;
}

/** A WebSocket server whose connections are Links. */
export async function createWsServer(options: WsServerOptions): Promise<WsServer> {
  const maxPayload = options.maxPayload ?? DEFAULT_MAX_PAYLOAD;
  const ownServer = !options.server;
  const server = options.server ?? createHttpServer();
  const wss = new WebSocketServer({
    server,
    path: options.path,
    maxPayload,
    perMessageDeflate: false,
    allowSynchronousEvents: true,
  });
  const links = new Set<Link>();
  wss.on('connection', (ws, req) => {
    const link = new WsLink(ws, maxPayload);
    links.add(link);
    void link.closed.then(() => links.delete(link));
    options.onLink(link, req);
  });
  if (!server.listening) {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
    });
  }
  const addr = server.address() as AddressInfo;
  const secure = 'setSecureContext' in server;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    port: addr.port,
    url: `${secure ? 'wss' : 'ws'}://${host}:${addr.port}${options.path ?? ''}`,
    links,
    close: async () => {
      for (const l of links) l.close('server closing');
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((res) => wss.close(() => res()));
      if (ownServer) await new Promise<void>((res) => server.close(() => res()));
    },
  };
}

export interface WsClientOptions {
  maxPayload?: number;
  /**
   * Send frames with an all-zero mask (ws then skips the XOR). 'auto' (default): only for wss://
   * or a loopback host. Masking protects proxies from cache poisoning by hostile *browser* scripts;
   * a Node client is not such a script, TLS hides the bytes from proxies, and loopback has none.
   */
  zeroMask?: boolean | 'auto';
  /** TLS options for wss:// (e.g. ca for a self-signed certificate). */
  ca?: string | Buffer;
  rejectUnauthorized?: boolean;
  headers?: Record<string, string>;
}

/** A client Link to `url` (state 'connecting' until open; `await link.opened`). */
export function createWsClientLink(url: string, options: WsClientOptions = {}): WsLink {
  const maxPayload = options.maxPayload ?? DEFAULT_MAX_PAYLOAD;
  const u = new URL(url);
  const zero = options.zeroMask ?? 'auto';
  const useZero = zero === true || (zero === 'auto' && (u.protocol === 'wss:' || LOOPBACK.has(u.hostname)));
  const ws = new WebSocket(url, {
    maxPayload,
    perMessageDeflate: false,
    allowSynchronousEvents: true,
    ca: options.ca,
    rejectUnauthorized: options.rejectUnauthorized,
    headers: options.headers,
    ...(useZero ? { generateMask: (mask: Buffer) => void mask.fill(0) } : {}),
  });
  return new WsLink(ws, maxPayload);
}

/** Open a client Link to `url`; resolves once the WebSocket is open. */
export async function connectWs(url: string, options: WsClientOptions = {}): Promise<WsLink> {
  const link = createWsClientLink(url, options);
  await link.opened;
  return link;
}
