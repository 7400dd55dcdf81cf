// The floor of the remote benchmark: the same processes and hops (experiment -> relay process ->
// runtime process -> back) over the transport's own WebSocket links, with none of rtfmri's work:
// no RPC, no relay protocol, no file read. `forward`: a relay that pairs the first two links and
// passes every message across untouched. `serve URL SIZE`: a runtime that answers every message
// with the same SIZE-byte buffer (read once).
import { connectWs, createWsServer } from '@rtfmri/transport/node';

const [mode, arg1, arg2] = process.argv.slice(2);
if (mode === 'forward') {
  const links = [];
  const server = await createWsServer({
    port: 0,
    onLink(link) {
      links.push(link);
      if (links.length === 2) {
        const [a, b] = links;
        a.onMessage((m) => b.send(m));
        b.onMessage((m) => a.send(m));
      }
    },
  });
  console.log(`floor relay (port ${server.port})`);
} else if (mode === 'serve') {
  const link = await connectWs(arg1);
  const reply = new Uint8Array(Number(arg2)).fill(7);
  link.onMessage((m) => link.send(m.length === 1 ? new Uint8Array([1]) : reply));
  console.log('floor runtime connected');
  link.closed.then(() => process.exit(0));
}
