// The relay as a network server: WebSocket (ws://, or wss:// with a certificate) in front of the
// relay core. Also hosts in-process peers over local links (a runtime serving a LAN with
// --listen, or an experiment hosting its own relay: one hop, no separate server).
import { createServer as createHttpsServer } from 'node:https';
import { createLocalLinkPair, type Link } from '@rtfmri/transport';
import { createWsServer, type WsServer } from '@rtfmri/transport/node';
import { Relay, type RelayOptions, type TokenPolicy } from './relay.js';

export interface RelayServerOptions {
  port?: number;
  /** Default 127.0.0.1; '0.0.0.0' to accept from other machines. */
  host?: string;
  tokens: TokenPolicy;
  /** PEM certificate and key (contents, not paths) for wss://. */
  cert?: string | Buffer;
  key?: string | Buffer;
  log?: (line: string) => void;
  maxPayload?: number;
  /** Liveness of peers' links, ms (defaults 1000 / 4000). */
  heartbeatMs?: number;
  deadAfterMs?: number;
  /** Flow control of slow clients (see RelayOptions.clientBuffer). */
  clientBuffer?: RelayOptions['clientBuffer'];
  /** Handshake deadline and caps on unauthenticated connections (see RelayOptions). */
  handshakeTimeoutMs?: number;
  unauthenticated?: RelayOptions['unauthenticated'];
}

export interface RelayServer {
  relay: Relay;
  /** ws://host:port (wss:// with a certificate). */
  url: string;
  port: number;
  /** A link into this relay from the same process (runtime or client side of the pair). */
  localLink(label?: string): Link;
  close(): Promise<void>;
}

export async function startRelayServer(opts: RelayServerOptions): Promise<RelayServer> {
  const relay = new Relay({ tokens: opts.tokens, log: opts.log, heartbeatMs: opts.heartbeatMs, deadAfterMs: opts.deadAfterMs, clientBuffer: opts.clientBuffer, handshakeTimeoutMs: opts.handshakeTimeoutMs, unauthenticated: opts.unauthenticated });
  const server = opts.cert && opts.key ? createHttpsServer({ cert: opts.cert, key: opts.key }) : undefined;
  let ws: WsServer;
  try {
    ws = await createWsServer({
      port: opts.port ?? 0,
      host: opts.host ?? '127.0.0.1',
      server,
      maxPayload: opts.maxPayload,
      onLink: (link, req) => relay.accept(link, `${req.socket.remoteAddress}:${req.socket.remotePort}`),
    });
  } catch (e) {
    server?.close();
    throw e;
  }
  if (server && !server.listening) await new Promise<void>((r) => server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', r));
  return {
    relay,
    url: ws.url,
    port: ws.port,
    localLink(label = 'in-process') {
      const [a, b] = createLocalLinkPair();
      relay.accept(a, label);
      return b;
    },
    async close() {
      relay.close();
      await ws.close();
      if (server?.listening) await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
