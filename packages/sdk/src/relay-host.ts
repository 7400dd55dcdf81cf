// An experiment can host the relay itself: the control-room runtime dials straight into the
// experiment process (one hop, no separate server), and the experiment's DataInterface reaches
// the relay over an in-process link.
import { sharedToken, startRelayServer, tokenPolicyFromJson, type RelayServer } from '@rtfmri/relay';

export interface HostRelayOptions {
  port?: number;
  /** Default 127.0.0.1; '0.0.0.0' to let a control-room computer connect. */
  host?: string;
  /** One token for runtimes and clients ... */
  token?: string;
  /** ... or a tokens-file object ({ runtimes: {...}, clients: {...} }). */
  tokens?: unknown;
  cert?: string | Buffer;
  key?: string | Buffer;
  log?: (line: string) => void;
  /** Liveness of peers' links, ms (defaults 1000 / 4000). */
  heartbeatMs?: number;
  deadAfterMs?: number;
}

export type HostedRelay = RelayServer;

export async function hostRelay(opts: HostRelayOptions): Promise<HostedRelay> {
  if (!opts.token && !opts.tokens) throw new RangeError('hostRelay needs a token (or tokens)');
  return startRelayServer({
    port: opts.port ?? 0,
    host: opts.host,
    tokens: opts.tokens ? tokenPolicyFromJson(opts.tokens) : sharedToken(opts.token!),
    cert: opts.cert,
    key: opts.key,
    log: opts.log,
    heartbeatMs: opts.heartbeatMs,
    deadAfterMs: opts.deadAfterMs,
  });
}
