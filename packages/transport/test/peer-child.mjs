// A peer in its own process, so tests can SIGKILL it mid-transfer. Loads the compiled dist/.
// Usage: node peer-child.mjs ws|webrtc   -> prints {"url": "..."} once listening.
// ws: serves the test service on a WebSocket. webrtc: the WebSocket only carries signaling; the
// service is exposed on a WebRTC data channel negotiated over it (as the relay would carry it).
import * as T from '../dist/node.js';

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
      T.expose(link, service, methods, { auth: { token: 'child-token' } });
      return;
    }
    const sig = new T.RpcPeer(link, { role: 'server', auth: { token: 'child-token' } });
    T.acceptWebRtc(T.peerSignaler(sig), (rtc) => {
      keep.add(rtc); // received channels must stay referenced
      T.expose(rtc, service, methods, { auth: 'none' });
    });
  },
});
process.stdout.write(JSON.stringify({ url: server.url }) + '\n');
