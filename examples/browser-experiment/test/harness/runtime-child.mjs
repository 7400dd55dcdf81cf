// The control-room runtime as its own process (so a test can kill it): dials the relay, serves
// the scanner folder, answers WebRTC offers from browsers. Prints "ready <instance>" once registered.
// argv: relayUrl name token scanDir bindAddress
import { DataInterface, RuntimeService, serveSession } from '@rtfmri/runtime';
import { connectWs } from '@rtfmri/transport/node';
import { answerWebRtcOffers } from './webrtc-answer.mjs';

const log = process.env.RTFMRI_DEBUG ? (l) => process.stderr.write(`runtime: ${l}\n`) : undefined;
const [relayUrl, name, token, scanDir, bindAddress] = process.argv.slice(2);
// The harness reads "channels N" lines: WebRTC channels open on this side right now.
let channels = 0;
function serveChannel(link) {
  serveSession(di, link, (e) => log?.('rpc: ' + e.message));
  process.stdout.write(`channels ${++channels}\n`);
  void link.closed.then(() => process.stdout.write(`channels ${--channels}\n`));
}
const di = new DataInterface({ allowedDirs: [scanDir], allowedFileTypes: ['.dcm'] });
const service = new RuntimeService({
  dial: () => connectWs(relayUrl),
  name,
  token,
  serveSession: (link, info) => {
    log?.(`session ${info.sid} opened (connection ${service.connection ? 'set' : 'unset'})`);
    serveSession(di, link);
    // Sessions can open inside register(), before service.connection is set: attach right after.
    setTimeout(() => {
      if (service.connection) answerWebRtcOffers(service.connection, serveChannel, { bindAddress, log });
    }, 0);
  },
});
await service.whenConnected();
process.stdout.write(`ready ${service.instance}\n`);
process.on('SIGTERM', async () => {
  await service.stop();
  await di.close();
  process.exit(0);
});
