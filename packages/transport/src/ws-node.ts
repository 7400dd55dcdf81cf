// WebSocket links in Node on the `ws` package (server and client; ws:// and wss://).
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import v8 from 'node:v8';
import vm from 'node:vm';
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
 * Young-generation collections paced by received WebSocket traffic. Every message received is
 * memory outside V8's heap (ws assembles each received message in a fresh buffer). V8 counts it as
 * external memory and, at bulk rates, lets the in-flight buffers be promoted and reclaims them
 * with a full mark-compact every ~16 MB: measured on the relay forwarding 3 GiB at ~0.6 GB/s, 186
 * mark-compacts (3.7 ms p50 pauses) and 1.3 CPU seconds per GiB. A scavenge every few MiB of
 * traffic frees them young instead (~0.05 ms each): 1 mark-compact, 0.55 CPU s/GiB, pauses far
 * shorter, throughput 0.6 -> 0.75-0.85 GB/s. RTFMRI_MINOR_GC_MIB sets the step (default 4; 0:
 * off). The collection runs in a later turn, when the message that crossed the step is no longer
 * referenced.
 *
 * Only processes that forward or send what they receive turn it on (pacedYoungCollections(): the
 * relay and the runtime's serve). An experiment that keeps what it receives (getFile's result, a
 * stream written to disk) is better off without: there every forced scavenge started V8's
 * incremental marking again (184 mark-compacts per 3 GiB getFile, none of them freeing anything),
 * and its CPU per GiB was 1.05-1.46 s with the pacing against 0.76-0.79 without (getFile) and
 * 2.40-2.58 against 1.43-1.61 (uploadFilesFromList to disk), alternate runs of the bulk bench.
 *
 * Sent messages do not count (they did): the relay sends on what it received (counted once), and
 * the runtime sends bulk data from reused memory (its ring of file chunks, its reply slots); what
 * was left counting were the volumes of a burst, whose forced scavenge then landed in the middle
 * of the burst (16 volumes closed at once: a 0.2-8.7 ms pause per burst).
 *
 * With the paced collections on, scavenges run on the main thread alone (V8's
 * --no-parallel-scavenge, set once, process-wide): each has nothing young to copy but the
 * in-flight buffers' small handles, and waking V8's helper threads for that cost more than the
 * work on 2 busy cores (relay forwarding 3 GiB: scavenge p50 0.23-0.54 -> 0.10-0.12 ms, their sum
 * 1.0-1.6 -> 0.46-0.71 s; measured with --trace-gc in the bulk benchmark, alternate runs).
 */
const STEP_FROM_ENV = (() => {
  const raw = process.env.RTFMRI_MINOR_GC_MIB;
  if (raw === undefined || raw === '') return undefined;
  const v = Number(raw);
  return Number.isFinite(v) && v > 0 ? v * 1024 * 1024 : 0;
})();
const DEFAULT_STEP = 4 * 1024 * 1024;
/** Bytes of traffic between two paced scavenges; 0: off (the default until pacedYoungCollections()). */
let GC_STEP = STEP_FROM_ENV ?? 0;

/**
 * Turns on the young-generation collections paced by WebSocket traffic for this process (see
 * above): for processes that pass on what they receive (the relay, the runtime). The
 * RTFMRI_MINOR_GC_MIB environment variable, when set, wins (0: off).
 *
 * `incrementalMarking: false` (the relay) also turns off V8's incremental marking, process-wide.
 * A relay's heap sits at about 8 MB, right at V8's threshold for starting incremental marking, and
 * its allocation is almost all outside the heap (received messages): V8 then started marking
 * again and again as a soft limit "task" and finished it with a mark-compact that freed nothing,
 * 98-238 per 3 GiB getFile (--trace-gc). Without it: 3, relay CPU 1.57 -> 0.97 s/GiB, user
 * 48% -> 15% of a core, getFile 0.51-0.66 -> 0.68-0.79 GB/s (alternate runs after the bench's floor
 * rows, load 1.5-1.9). An old generation that does fill up is then collected in one pause; the
 * relay keeps little there.
 */
export function pacedYoungCollections(options: { incrementalMarking?: boolean } = {}): void {
  if (STEP_FROM_ENV === undefined) GC_STEP = DEFAULT_STEP;
  if (options.incrementalMarking === false) {
    try {
      v8.setFlagsFromString('--no-incremental-marking');
    } catch {
      // not settable here: the relay keeps V8's default
    }
  }
}
let gcBytes = 0;
let gcScheduled = false;
let minorGc: ((o: { type: 'minor' }) => void) | null | undefined;
function runMinorGc(): void {
  gcScheduled = false;
  if (minorGc === undefined) {
    try {
      // --expose-gc set now only gives a new context a gc() (the program's own global keeps none).
      v8.setFlagsFromString('--expose-gc');
      minorGc = vm.runInNewContext('gc') as (o: { type: 'minor' }) => void;
      v8.setFlagsFromString('--no-parallel-scavenge');
    } catch {
      minorGc = null;
    }
  }
  minorGc?.({ type: 'minor' });
}
function countTraffic(bytes: number): void {
  if (!GC_STEP) return;
  gcBytes += bytes;
  if (gcBytes < GC_STEP || gcScheduled) return;
  gcBytes = 0;
  gcScheduled = true;
  setImmediate(runMinorGc);
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
      if (data.length >= 16 * 1024) countTraffic(data.length);
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
