// The control-room service's connection loop: dial out to the relay, register under a name,
// serve every client session, and when the link drops, dial again forever with backoff. The
// DataInterface (and so every stream and watch) lives in the process, not in the connection,
// so it survives reconnects; clients see the same instance id and carry on.
import type { Link } from '@rtfmri/transport';
import { RelayRuntimeConnection, type SessionInfo } from '@rtfmri/relay/protocol';
import { randomInstance } from '@rtfmri/relay/protocol';

export interface RuntimeServiceOptions {
  /** Opens a new physical link to the relay (e.g. a WebSocket client). */
  dial: () => Promise<Link> | Link;
  name: string;
  token: string;
  instance?: string;
  /** Serve one client session on `link` (e.g. transport's expose). */
  serveSession: (link: Link, info: SessionInfo) => void;
  log?: (line: string) => void;
  /** The relay refused this runtime's token: retrying cannot help; the service stops. */
  onFatal?: (err: Error) => void;
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

export class RuntimeService {
  readonly instance: string;
  connection: RelayRuntimeConnection | undefined;
  private stopped = false;
  private wake: (() => void) | undefined;
  private waiters: Array<() => void> = [];
  private readonly loop: Promise<void>;
  /** Failures in a row (reset when a registration succeeds). */
  failures = 0;
  lastError: Error | undefined;

  constructor(private readonly opts: RuntimeServiceOptions) {
    this.instance = opts.instance ?? randomInstance();
    this.loop = this.run();
  }

  get connected(): boolean {
    return this.connection !== undefined && this.connection.link.state === 'open';
  }

  /** Resolves once registered with the relay (now, if already). */
  whenConnected(): Promise<void> {
    if (this.connected) return Promise.resolve();
    return new Promise((r) => this.waiters.push(r));
  }

  private log(line: string): void {
    this.opts.log?.(line);
  }

  private async run(): Promise<void> {
    const min = this.opts.minBackoffMs ?? 100;
    const max = this.opts.maxBackoffMs ?? 5000;
    let backoff = min;
    while (!this.stopped) {
      let link: Link | undefined;
      try {
        link = await this.opts.dial();
        const conn = await RelayRuntimeConnection.register(link, {
          name: this.opts.name,
          token: this.opts.token,
          instance: this.instance,
          onSession: (s, info) => this.opts.serveSession(s, info),
        });
        if (this.stopped) {
          conn.close();
          break;
        }
        this.connection = conn;
        this.failures = 0;
        backoff = min;
        this.log(`registered with the relay as '${this.opts.name}' (instance ${this.instance})`);
        for (const w of this.waiters.splice(0)) w();
        const info = await conn.closed;
        this.connection = undefined;
        if (this.stopped) break;
        this.log(`lost the relay link (${info.reason}); reconnecting`);
      } catch (e) {
        link?.close('registration failed');
        this.failures++;
        this.lastError = e as Error;
        const code = ((e as { details?: { code?: unknown } }).details ?? {}).code;
        if ((e as Error).name === 'AuthError' && (code === 'AUTH' || code === 'RELAY_UNPROVEN')) {
          this.log(code === 'AUTH' ? `the relay refused this runtime's credentials: ${(e as Error).message}; not retrying` : `${(e as Error).message}; not retrying`);
          this.stopped = true;
          this.opts.onFatal?.(e as Error);
          break;
        }
        // Say it once, then only every 10th time, so a relay down for hours does not flood logs.
        if (this.failures === 1 || this.failures % 10 === 0) this.log(`cannot register with the relay (attempt ${this.failures}): ${(e as Error).message}`);
      }
      if (this.stopped) break;
      const delay = backoff * (0.75 + Math.random() * 0.5);
      backoff = Math.min(max, backoff * 2);
      await new Promise<void>((r) => {
        const t = setTimeout(r, delay);
        this.wake = () => {
          clearTimeout(t);
          r();
        };
      });
      this.wake = undefined;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    this.connection?.close();
    await this.loop;
  }
}
