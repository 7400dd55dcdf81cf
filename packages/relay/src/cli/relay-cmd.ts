import { parse, port, str, UsageError } from './args.js';
import type { Command } from './command.js';
import { readTextFile, stamp, tokenFrom, untilAborted } from './common.js';
import { sharedToken, tokenPolicyFromJson, type TokenPolicy } from '../relay.js';
import { startRelayServer } from '../server.js';

const help = `Usage: rtfmri relay [--port 8888] [--host ADDR] [--token TOKEN | --tokens FILE] [--cert FILE --key FILE]

The cloud relay: accepts control-room runtimes ('rtfmri serve --connect') and experiment clients
over WebSocket, authenticates both (challenge-response: tokens never cross the wire), and routes
each client's calls to the runtime it names. A second runtime claiming a connected name is
refused and logged.

Options:
  --port PORT       port to listen on (default 8888; 0 picks a free one)
  --host ADDR       address to listen on (default 0.0.0.0)
  --token TOKEN     one token for every runtime and client (or env RTFMRI_TOKEN)
  --tokens FILE     JSON: {"runtimes": {"scanner1": "tok"}, "clients": {"alice": {"token": "tok2",
                    "runtimes": ["scanner1"]}}} (per-name tokens; a client reaches only its runtimes)
  --cert FILE       PEM certificate: serve wss:// (with --key)
  --key FILE        PEM private key
  -h, --help        this help`;

export const relayCommand: Command = {
  name: 'relay',
  summary: 'the cloud relay: routes experiment calls to control-room runtimes',
  help,
  async run(argv, io) {
    const p = parse(
      argv,
      { port: { type: 'string' }, host: { type: 'string' }, token: { type: 'string' }, tokens: { type: 'string' }, cert: { type: 'string' }, key: { type: 'string' } },
      { min: 0, max: 0 },
    );
    if (p.values.help) return io.out(help), 0;
    const listenPort = port(p, 'port') ?? 8888;
    if (!!str(p, 'cert') !== !!str(p, 'key')) throw new UsageError('--cert and --key go together');
    if (str(p, 'token') && str(p, 'tokens')) throw new UsageError('give --token or --tokens, not both');
    let tokens: TokenPolicy;
    const file = str(p, 'tokens');
    if (file) {
      const text = await readTextFile(file, '--tokens');
      try {
        tokens = tokenPolicyFromJson(JSON.parse(text));
      } catch (e) {
        throw new UsageError(`--tokens ${file}: ${(e as Error).message}`);
      }
    } else tokens = sharedToken(tokenFrom(str(p, 'token')));
    const cert = str(p, 'cert') ? await readTextFile(str(p, 'cert')!, '--cert') : undefined;
    const key = str(p, 'key') ? await readTextFile(str(p, 'key')!, '--key') : undefined;
    let server;
    try {
      server = await startRelayServer({ port: listenPort, host: str(p, 'host') ?? '0.0.0.0', tokens, cert, key, log: (l) => io.out(stamp(l)) });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE') throw new UsageError(`port ${listenPort} is already in use`);
      if (code === 'EACCES') throw new UsageError(`not allowed to listen on port ${listenPort}`);
      throw e;
    }
    io.out(stamp(`relay listening on ${server.url.replace('0.0.0.0', 'HOST')} (port ${server.port})`));
    await untilAborted(io.signal);
    io.out(stamp('relay shutting down'));
    await server.close();
    return 0;
  },
};
