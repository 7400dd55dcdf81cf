// The runtime package's own test suites (files, paths, helpers, streams), unchanged, against the
// remote stub: every `new DataInterface(...)` in them becomes a real runtime DataInterface served
// by `rtfmri serve` logic through a real relay on loopback WebSocket, and the test talks to it
// through the SDK's RemoteDataInterface. Passing here = the remote stub behaves like the local one.
import { vi } from 'vitest';

const TOKEN = 'suite-token';
let relayUrl = '';
let n = 0;

vi.mock('@rtfmri/runtime', async (importOriginal) => {
  const actual = await importOriginal<typeof import('@rtfmri/runtime')>();
  const API = new Set<string>([...actual.DATA_INTERFACE_METHODS, 'close']);

  class RemoteBacked {
    constructor(opts: ConstructorParameters<typeof actual.DataInterface>[0] = {}) {
      // The real one is built here, synchronously: option errors (dataRemote: true, bad skew)
      // throw from the constructor exactly as in the local case.
      const real = new actual.DataInterface(opts);
      const name = `suite${++n}`;
      const ready = (async () => {
        const { connectWs } = await import('@rtfmri/transport/node');
        const { RemoteDataInterface } = await import('../src/remote.js');
        const service = new actual.RuntimeService({ dial: () => connectWs(relayUrl), name, token: TOKEN, serveSession: (l) => actual.serveSession(real, l) });
        await service.whenConnected();
        const { mintClientToken } = await import('@rtfmri/relay/protocol');
        const remote = new RemoteDataInterface({ url: relayUrl, dial: (u) => connectWs(u), token: mintClientToken(TOKEN), name });
        await remote.waitForRuntime(10);
        return { remote, service };
      })();
      ready.catch(() => {});
      return new Proxy(this, {
        get(_t, prop) {
          if (typeof prop === 'string' && API.has(prop)) {
            if (prop === 'close')
              return async () => {
                const { remote, service } = await ready;
                await remote.close();
                await service.stop();
                await real.close();
              };
            return async (...args: unknown[]) => {
              const { remote } = await ready;
              return (remote as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[prop]!(...args);
            };
          }
          // Diagnostics that are not part of the API (streamState, policy) read the real object.
          const v = (real as unknown as Record<string | symbol, unknown>)[prop];
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(real) : v;
        },
      });
    }
  }
  return { ...actual, DataInterface: RemoteBacked };
});

const { hostRelay } = await import('../src/relay-host.js');
const relay = await hostRelay({ token: TOKEN });
relayUrl = relay.url;
const { afterAll } = await import('vitest');
afterAll(() => relay.close());

// Loaded by path (not a static specifier) so this package's typecheck does not pull the runtime's
// tests into its program; vitest collects their describe/it blocks here.
for (const suite of ['../../runtime/test/files', '../../runtime/test/paths', './helpers', '../../runtime/test/streams']) {
  await import(/* @vite-ignore */ new URL(`${suite}.test.ts`, import.meta.url).pathname);
}
