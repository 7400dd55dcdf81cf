// A Link over a W3C WebSocket (the browser's native one; also anything with the same API).
// No Node-only imports.
import { concatParts } from './bytes.js';
import { BaseLink } from './link.js';
import { DisconnectedError } from './errors.js';

interface W3CWebSocket {
  binaryType: string;
  readonly bufferedAmount: number;
  readonly readyState: number;
  send(data: ArrayBufferView | ArrayBuffer | Blob): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: string, fn: (ev: any) => void): void; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export class BrowserWebSocketLink extends BaseLink {
  readonly kind = 'ws';
  readonly maxMessageSize: number;
  private pollTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    readonly ws: W3CWebSocket,
    maxMessageSize = 1024 * 1024 + 128 * 1024,
  ) {
    super();
    this.maxMessageSize = maxMessageSize;
    ws.binaryType = 'arraybuffer';
    ws.addEventListener('message', (ev: { data: unknown }) => {
      if (ev.data instanceof ArrayBuffer) this.deliver(new Uint8Array(ev.data));
      else this.close('text message on a binary link');
    });
    ws.addEventListener('close', (ev: { code: number; reason: string }) =>
      this.markClosed(`websocket closed (${ev.reason || `code ${ev.code}`})`),
    );
    ws.addEventListener('error', () =>
      this.markClosed('websocket error', new DisconnectedError('not connected: websocket error')),
    );
    if (ws.readyState === 1) this.markOpen();
    else ws.addEventListener('open', () => this.markOpen());
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  send(data: Uint8Array | readonly Uint8Array[]): void {
    this.assertOpen();
    // A browser WebSocket has no fragmented send: gather into one message (Blob avoids a JS copy).
    if (data instanceof Uint8Array) this.ws.send(data);
    else if (data.length === 1) this.ws.send(data[0]);
    else if (typeof Blob !== 'undefined') this.ws.send(new Blob(data as unknown as BlobPart[]));
    else {
      this.ws.send(concatParts(data));
    }
  }

  protected armDrain(): void {
    // Browsers have no 'drain' event on WebSocket: poll.
    if (this.pollTimer) return;
    this.pollTimer = setTimeout(() => {
      this.pollTimer = undefined;
      this.checkDrain();
    }, 2);
  }

  protected doClose(reason: string): void {
    try {
      this.ws.close(1000, reason.slice(0, 120));
    } catch {
      // already closing
    }
  }
}

/** Open a Link over the global WebSocket (browser). */
export async function connectBrowserWs(url: string): Promise<BrowserWebSocketLink> {
  const Ctor = (globalThis as unknown as { WebSocket: new (url: string) => W3CWebSocket }).WebSocket;
  const link = new BrowserWebSocketLink(new Ctor(url));
  await link.opened;
  return link;
}
