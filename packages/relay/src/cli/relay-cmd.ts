import { parse, port, str, UsageError } from './args.js';
import type { Command } from './command.js';
import { readSecretFile, readTextFile, stamp, TOKEN_OPTIONS, tokenFrom, untilAborted } from './common.js';
import { sharedToken, tokenPolicyFromJson, type TokenPolicy } from '../relay.js';
import { disableIncrementalMarking } from '@rtfmri/transport/node';
import { startRelayServer } from '../server.js';

const help = `Usage: rtfmri relay [--port 8888] [--host ADDR] [--token-file FILE | --tokens FILE] [--cert FILE --key FILE]

The cloud relay: accepts control-room runtimes ('rtfmri serve --connect') and experiment clients
over WebSocket, authenticates both ways (challenge-response: no secret crosses the wire, and the
relay proves it holds the peer's key before the peer trusts it), and routes each client's calls to
the runtime it names. A runtime name can only be registered with a runtime credential; a second
runtime claiming a connected name is refused and logged.

Options:
  --port PORT         port to listen on (default 8888; 0 picks a free one)
  --host ADDR         address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 for
                      every interface, with --cert/--key for wss:// on a real deployment)
  --token-file FILE   the site secret (first line; the file must be mode 600), or env RTFMRI_TOKEN.
                      Runtimes prove keys derived from it; clients use tokens minted from it
                      ('rtfmri token client'), never the secret itself
  --token SECRET      the same on the command line (visible in ps: prefer --token-file)
  --tokens FILE       JSON: {"runtimes": {"scanner1": "tok"}, "clients": {"alice": {"token": "tok2",
                      "runtimes": ["scanner1"], "methods": "stream", "expires": "2026-12-31T18:00:00Z"}},
                      "secret": "optional site secret for minted client tokens"}
  --cert FILE         PEM certificate: serve wss:// (with --key)
  --key FILE          PEM private key
  -h, --help          this help`;

export const relayCommand: Command = {
  name: 'relay',
  summary: 'the cloud relay: routes experiment calls to control-room runtimes',
  help,
  async run(argv, io) {
    const p = parse(
      argv,
      { port: { type: 'string' }, host: { type: 'string' }, ...TOKEN_OPTIONS, tokens: { type: 'string' }, cert: { type: 'string' }, key: { type: 'string' } },
      { min: 0, max: 0 },
    );
    if (p.values.help) return io.out(help), 0;
    const listenPort = port(p, 'port') ?? 8888;
    if (!!str(p, 'cert') !== !!str(p, 'key')) throw new UsageError('--cert and --key go together');
    if ((str(p, 'token') || str(p, 'token-file')) && str(p, 'tokens')) throw new UsageError('give --token-file or --tokens, not both');
    let tokens: TokenPolicy;
    const file = str(p, 'tokens');
    if (file) {
      const text = await readSecretFile(file, '--tokens').then(() => readTextFile(file, '--tokens'));
      try {
        tokens = tokenPolicyFromJson(JSON.parse(text));
      } catch (e) {
        throw new UsageError(`--tokens ${file}: ${(e as Error).message}`);
      }
    } else tokens = sharedToken(await tokenFrom(p, io.err, 'the site secret'));
    const cert = str(p, 'cert') ? await readTextFile(str(p, 'cert')!, '--cert') : undefined;
    const key = str(p, 'key') ? await readTextFile(str(p, 'key')!, '--key') : undefined;
    const host = str(p, 'host') ?? '127.0.0.1';
    let server;
    try {
      // Bulk traffic through a small heap (see disableIncrementalMarking).
      disableIncrementalMarking();
      server = await startRelayServer({ port: listenPort, host, tokens, cert, key, log: (l) => io.out(stamp(l)) });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE') throw new UsageError(`port ${listenPort} is already in use`);
      if (code === 'EACCES') throw new UsageError(`not allowed to listen on port ${listenPort}`);
      throw e;
    }
    io.out(stamp(`relay listening on ${server.url.replace('0.0.0.0', 'HOST')} (port ${server.port})`));
    if (host === '127.0.0.1' || host === 'localhost' || host === '::1') {
      io.out(stamp('listening on this machine only (a trial); for runtimes and experiments elsewhere: --host 0.0.0.0 --cert FILE --key FILE'));
    } else if (!cert) {
      io.out(stamp('warning: plain ws:// on a network address: traffic is not encrypted; use --cert/--key (wss://)'));
    }
    await untilAborted(io.signal);
    io.out(stamp('relay shutting down'));
    await server.close();
    return 0;
  },
};
