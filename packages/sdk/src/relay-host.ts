// An experiment can host the relay itself: the control-room runtime dials straight into the
// experiment process (one hop, no separate server), and the experiment's DataInterface reaches
// the relay over an in-process link.
import { mintClientToken, mintRuntimeToken, sharedToken, startRelayServer, tokenPolicyFromJson, type MintClientOptions, type RelayServer } from '@rtfmri/relay';

export interface HostRelayOptions {
  port?: number;
  /** Default 127.0.0.1; '0.0.0.0' to let a control-room computer connect. */
  host?: string;
  /**
   * The site secret: runtimes prove keys derived from it (give it, or `runtimeToken(name)`, to
   * `rtfmri serve`); clients use tokens minted from it (`clientToken()`), never the secret ...
   */
  token?: string;
  /** ... or a tokens-file object ({ runtimes: {...}, clients: {...} }). */
  tokens?: unknown;
  cert?: string | Buffer;
  key?: string | Buffer;
  log?: (line: string) => void;
  /** Liveness of peers' links, ms (defaults 1000 / 4000). */
  heartbeatMs?: number;
  deadAfterMs?: number;
  /** How long a connection may take to authenticate, ms (default 5000). */
  handshakeTimeoutMs?: number;
}

export interface HostedRelay extends RelayServer {
  /** A scoped client token from the site secret (needs `token`). Default: every runtime and method, no expiry. */
  clientToken(opts?: MintClientOptions): string;
  /** A runtime credential for one name that does not reveal the site secret (needs `token`). */
  runtimeToken(name: string): string;
}

export async function hostRelay(opts: HostRelayOptions): Promise<HostedRelay> {
  if (!opts.token && !opts.tokens) throw new RangeError('hostRelay needs a token (or tokens)');
  const server = await startRelayServer({
    port: opts.port ?? 0,
    host: opts.host,
    tokens: opts.tokens ? tokenPolicyFromJson(opts.tokens) : sharedToken(opts.token!),
    cert: opts.cert,
    key: opts.key,
    log: opts.log,
    heartbeatMs: opts.heartbeatMs,
    deadAfterMs: opts.deadAfterMs,
    handshakeTimeoutMs: opts.handshakeTimeoutMs,
  });
  const secret = opts.token;
  const needSecret = (): string => {
    if (!secret) throw new RangeError('this relay was hosted with a tokens file: mint tokens with a site secret (hostRelay({ token }))');
    return secret;
  };
  return Object.assign(server, {
    clientToken: (o?: MintClientOptions) => mintClientToken(needSecret(), o),
    runtimeToken: (name: string) => mintRuntimeToken(needSecret(), name),
  });
}
