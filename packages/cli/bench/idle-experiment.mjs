// The experiment process of the idle benchmark: connects through the relay, opens a session to the
// runtime, checks it once, then does nothing until killed (what a script between runs does).
import { DataInterface } from '@rtfmri/sdk';

const [url, token] = process.argv.slice(2);
const di = new DataInterface({ dataRemote: true, url, token, name: 'scanner1' });
await di.waitForRuntime(20);
await di.ping();
console.log('experiment connected');
setInterval(() => {}, 1 << 30);
