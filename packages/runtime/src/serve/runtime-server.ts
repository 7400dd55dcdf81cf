// The control-room service: a local DataInterface served to relay sessions. Dials out to a relay
// (--connect) and reconnects forever, or listens on a LAN port (--listen) by hosting a relay
// in-process. Either way clients speak the same protocol, and the DataInterface with its streams
// and watches lives as long as the process, across reconnects.
import { connectWs, type WsClientOptions } from '@rtfmri/transport/node';
import * as T from '@rtfmri/transport';
import { expose, type Link } from '@rtfmri/transport';
import { DATA_INTERFACE_METHODS, FEEDBACK_METHODS } from '@rtfmri/relay/protocol';
import { feedbackHubOf } from './feedback.js';
import { DataInterface, mapFsError, type DataInterfaceOptions } from '../data-interface.js';
import type { DicomDataset } from '@rtfmri/dicom-wasm';
import { sharedToken, type TokenPolicy } from '@rtfmri/relay';
import { startRelayServer, type RelayServer } from '@rtfmri/relay';
import { RuntimeService } from './service.js';
import { answerWebRtcOffers, type WebRtcAnswerOptions } from './webrtc-answer.js';
import { ReplyBuffers } from './reply-buffers.js';
import { STREAM_WINDOW } from '../file-stream.js';
import { recycleDelivered } from '../check.js';

/**
 * What a remote caller reaches: DataInterface's allow-listed methods with the runtime's PHI policy
 * applied (DataInterface.remoteMethods: every route that hands out file bytes), getImageData
 * sending the file bytes as they are (anonymized unless the operator allowed raw and the client
 * asked for it); the SDK parses them on its side. Every error leaves as a typed error.
 */
export function remoteFacade(
  di: DataInterface,
  link?: Link,
  /**
   * Reused reply memory (getFile's ring, the recycled memory of sent volumes): reused only after
   * replies sent through `buffers.rpcLink`, so expose the facade on that link (serveSession does).
   */
  buffers: ReplyBuffers | undefined = link && ReplyBuffers.usable(link) ? new ReplyBuffers(link) : undefined,
): Record<string, (...args: unknown[]) => Promise<unknown>> {
  // Only the file name crosses over: a caller cannot pass the allocator.
  const methods = di.remoteMethods(buffers?.take, buffers?.chunkMemory);
  const o: Record<string, (...args: unknown[]) => Promise<unknown>> = Object.create(null);
  for (const m of DATA_INTERFACE_METHODS) {
    const f = methods[m];
    o[m] = buffers ? (...args) => buffers.run(() => f(...args)).catch(wireError) : (...args) => f(...args).catch(wireError);
  }
  o.getImageData = async (...args) => {
    const ds = (await methods.getImageData(...args).catch(wireError)) as DicomDataset;
    const bytes = ds.toBytes();
    // The delivered bytes are held by nobody once sent: once the RPC has handed them all to the
    // link and the socket has flushed them, their memory becomes the spare of a later image.
    buffers?.afterSent(bytes, (sent) => sent && recycleDelivered(bytes));
    return bytes;
  };
  return o;
}

const WIRE_ERRORS: Record<string, new (message: string, options?: { details?: unknown }) => Error> = {
  ValidationError: T.ValidationError,
  NotFoundError: T.NotFoundError,
  TimeoutError: T.TimeoutError,
  StateError: T.StateError,
  DisconnectedError: T.DisconnectedError,
};

const MAX_ERROR_MESSAGE = 2048;

/**
 * The transport's typed class for an error of the same name, so it crosses the wire typed; long
 * messages (which may echo a huge argument back) are cut, so an error reply never outgrows a frame.
 */
function wireError(thrown: unknown): never {
  if (!(thrown instanceof Error)) throw thrown;
  let e: Error = thrown;
  // A file-system error that escaped its method's own mapping still leaves typed (errno in details.reason).
  const errno = (e as NodeJS.ErrnoException).code;
  if (!(e instanceof T.RtfmriError) && typeof errno === 'string' && /^E[A-Z0-9]+$/.test(errno)) {
    e = mapFsError(e, String((e as NodeJS.ErrnoException).path ?? ''));
  }
  const cls = e instanceof T.RtfmriError ? undefined : WIRE_ERRORS[e.name];
  const long = e.message.length > MAX_ERROR_MESSAGE;
  if (!cls && !long) throw e;
  const message = long ? `${e.message.slice(0, MAX_ERROR_MESSAGE)}... (${e.message.length} characters)` : e.message;
  let details = (e as { details?: unknown }).details;
  try {
    if (details !== undefined && JSON.stringify(details).length > MAX_ERROR_MESSAGE) details = undefined;
  } catch {
    details = undefined;
  }
  const out = cls ? new cls(message, { details }) : e;
  out.message = message;
  if (!cls) (out as { details?: unknown }).details = details;
  throw out;
}

/**
 * Serve one relay session (or a WebRTC data channel negotiated over one): transport's RPC,
 * allow-listed, end to end with the SDK. `heartbeat` for a direct physical link (the data
 * channel), which nothing else watches; a relay session needs none (the relay link has one).
 */
export function serveSession(di: DataInterface, link: Link, onError?: (e: Error) => void, options: { heartbeat?: boolean; methods?: readonly string[]; client?: string; streamWindow?: number } = {}): void {
  // The relay authenticated both ends and says which methods the client's credential allows
  // (a participant page's token: streams only); anything else is refused as an unknown method.
  // The feedback channel's hub (feedback.ts) is the runtime's, shared by all its sessions; a
  // page's queue is keyed by its client id, so it survives a reconnect.
  const every = [...DATA_INTERFACE_METHODS, ...FEEDBACK_METHODS];
  const allowed = options.methods ? every.filter((m) => options.methods!.includes(m)) : every;
  // Reused reply memory is reused only after the RPC has sent the reply: it sends through rpcLink.
  const buffers = ReplyBuffers.usable(link) ? new ReplyBuffers(link) : undefined;
  const impl = Object.assign(remoteFacade(di, link, buffers), feedbackHubOf(di).facade(options.client ?? `session:${Math.random().toString(36).slice(2)}`, link.closed));
  // streamWindow: a putFile stream is written to disk as it arrives (file-stream.ts STREAM_WINDOW).
  expose(buffers?.rpcLink ?? link, impl, allowed, { onError, heartbeat: options.heartbeat, streamWindow: options.streamWindow ?? STREAM_WINDOW });
}

export interface RuntimeServerOptions extends Omit<DataInterfaceOptions, 'dataRemote'> {
  name: string;
  token: string;
  /** ws(s)://host:port of the relay to dial. */
  connect?: string;
  /** Serve clients directly on this port instead (a relay hosted in this process). */
  listen?: number;
  listenHost?: string;
  cert?: string | Buffer;
  key?: string | Buffer;
  /** Tokens for clients when listening (default: `token` for everyone). */
  tokens?: TokenPolicy;
  ws?: WsClientOptions;
  /**
   * Credit granted to each stream the runtime receives (a client's streamed putFile), bytes.
   * Default 4 MiB (file-stream.ts STREAM_WINDOW); a stream moves at most this much per round
   * trip, so raise it for clients far away (4 MiB at 50 ms RTT: ~80 MB/s). 64 KiB to 1 GiB.
   */
  streamWindow?: number;
  log?: (line: string) => void;
  instance?: string;
  onFatal?: (err: Error) => void;
  /** An existing DataInterface to serve (default: a new one from the options). */
  dataInterface?: DataInterface;
  /**
   * Browsers' direct WebRTC data channels, negotiated over the relay session (webrtc-answer.ts).
   * Default on, host candidates on RTFMRI_WEBRTC_BIND (else 127.0.0.1); false: relay only.
   */
  webrtc?: false | WebRtcAnswerOptions;
}

export interface RuntimeServer {
  di: DataInterface;
  service: RuntimeService;
  /** When listening: the hosted relay. */
  relayServer?: RelayServer;
  close(): Promise<void>;
}

export async function startRuntimeServer(opts: RuntimeServerOptions): Promise<RuntimeServer> {
  if (!opts.connect === (opts.listen === undefined)) throw new RangeError('give exactly one of connect (a relay URL) or listen (a port)');
  const streamWindow = opts.streamWindow ?? STREAM_WINDOW;
  if (!Number.isSafeInteger(streamWindow) || streamWindow < 64 * 1024 || streamWindow > 1024 * 1024 * 1024) {
    throw new RangeError(`streamWindow must be a number of bytes from 65536 to 1073741824 (got ${String(opts.streamWindow)})`);
  }
  const di = opts.dataInterface ?? new DataInterface({
    allowedDirs: opts.allowedDirs,
    allowedFileTypes: opts.allowedFileTypes,
    scannerClockSkew: opts.scannerClockSkew,
    watchRoute: opts.watchRoute,
    work: opts.work,
    pollIntervalMs: opts.pollIntervalMs,
    poolThreads: opts.poolThreads,
    phi: opts.phi,
    log: opts.log,
  });
  let relayServer: RelayServer | undefined;
  let dial: () => Promise<Link> | Link;
  if (opts.listen !== undefined) {
    relayServer = await startRelayServer({
      port: opts.listen,
      host: opts.listenHost,
      tokens: opts.tokens ?? sharedToken(opts.token),
      cert: opts.cert,
      key: opts.key,
      log: opts.log,
    });
    const rs = relayServer;
    dial = () => rs.localLink('this runtime');
  } else {
    const url = opts.connect!;
    dial = () => connectWs(url, opts.ws);
  }
  /** The methods each open relay session's client may call. */
  const sessionMethods = new Map<number, readonly string[]>();
  const sessionClients = new Map<number, string>();
  const service = new RuntimeService({
    dial,
    name: opts.name,
    token: opts.token,
    instance: opts.instance,
    log: opts.log,
    onFatal: opts.onFatal,
    serveSession: (link, info) => {
      opts.log?.(`session ${info.sid} opened for client '${info.client}'${info.methods.length < DATA_INTERFACE_METHODS.length ? ` (methods: ${info.methods.join(', ')})` : ''}`);
      sessionMethods.set(info.sid, info.methods);
      sessionClients.set(info.sid, info.client);
      serveSession(di, link, (e) => opts.log?.(`session ${info.sid}: ${e.message}`), { methods: info.methods, client: info.client, streamWindow });
      void link.closed.then((c) => {
        sessionMethods.delete(info.sid);
        sessionClients.delete(info.sid);
        opts.log?.(`session ${info.sid} closed (${c.reason})`);
      });
      // A session can open inside register(), before service.connection is set; a page's offer
      // comes a round trip later, so attaching on the next turn misses none.
      if (opts.webrtc !== false) {
        setTimeout(() => {
          const conn = service.connection;
          // A data channel negotiated over a session gets that session's methods (none if it ended).
          if (conn) answerWebRtcOffers(conn, (l, sid) => serveSession(di, l, (e) => opts.log?.(`session ${sid} (webrtc): ${e.message}`), { heartbeat: true, methods: sessionMethods.get(sid) ?? [], client: sessionClients.get(sid), streamWindow }), { log: opts.log, ...opts.webrtc });
        }, 0);
      }
    },
  });
  return {
    di,
    service,
    relayServer,
    async close() {
      await service.stop();
      await relayServer?.close();
      if (!opts.dataInterface) await di.close();
    },
  };
}
