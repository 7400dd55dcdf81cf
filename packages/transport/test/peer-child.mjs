// A peer in its own process, so tests can SIGKILL it mid-transfer. Loads the compiled dist/.
// Usage: node peer-child.mjs ws|webrtc   -> prints {"url": "..."} once listening.
// ws: serves the test service on a WebSocket. webrtc: the WebSocket only carries signaling (JSON
// frames, as the relay's SIGNAL frames would); the service is exposed on a WebRTC data channel
// negotiated over it, with the RPC heartbeat on (the data channel has no liveness of its own).
import * as T from '../dist/node.js';
import { linkSignaler } from './signaling.mjs';

const mode = process.argv[2] ?? 'ws';
const service = {
  async consume(s) {
    let n = 0;
    for await (const c of s) n += c.length;
    return n;
  },
  async produce(chunk) {
    return new T.ByteStream(
      (async function* () {
        for (;;) yield new Uint8Array(chunk);
      })(),
    );
  },
  async sum(b) {
    return b.length;
  },
  async hang() {
    await new Promise(() => {});
  },
};
const methods = Object.keys(service);
const keep = new Set();
const server = await T.createWsServer({
  onLink: (link) => {
    if (mode === 'ws') {
      T.expose(link, service, methods);
      return;
    }
    T.acceptWebRtc(linkSignaler(link), (rtc) => {
      keep.add(rtc); // received channels must stay referenced
      T.expose(rtc, service, methods, { heartbeat: true });
    });
  },
});
process.stdout.write(JSON.stringify({ url: server.url }) + '\n');
