import { isIP } from 'node:net';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { disableIncrementalMarking } from '@rtfmri/transport/node';
import { loadUidSecret, PHI_POLICIES, startRuntimeServer, type PhiPolicy } from '@rtfmri/runtime';
import { bool, checkUrl, type Command, existingDirs, list, num, parse, port, readTextFile, stamp, str, TOKEN_OPTIONS, tokenFrom, untilAborted, UsageError } from '@rtfmri/relay/cli';

const help = `Usage: rtfmri serve --connect ws(s)://HOST:PORT --name NAME --allowed-dirs DIRS --allowed-file-types TYPES [options]
       rtfmri serve --listen PORT --name NAME --allowed-dirs DIRS --allowed-file-types TYPES [options]

The control-room service: the real DataInterface (files, scanner streams, watches) served to
experiments. With --connect it dials out to a relay (no inbound port needed) and reconnects
forever with backoff; streams and watches survive reconnects. With --listen it serves clients
on this computer's network directly.

Options:
  --connect URL             relay to dial, ws://host:port or wss://host:port
  --listen PORT             serve clients directly on PORT instead
  --host ADDR               with --listen: address to listen on (default 127.0.0.1; 0.0.0.0 for the
                            LAN, with --cert/--key)
  --name NAME               the name clients use to reach this runtime (default scanner1)
  --token-file FILE         the site secret, or this runtime's token from 'rtfmri token runtime'
                            (first line; mode 600), or env RTFMRI_TOKEN
  --token TOKEN             the same on the command line (visible in ps: prefer --token-file)
  --allowed-dirs DIRS       comma-separated folders that may be read/written ('*': all)
  --allowed-file-types T    comma-separated extensions, e.g. .dcm,.txt ('*': all)
  --scanner-clock-skew S    seconds the scanner's clock is ahead of this computer's (default 0)
  --phi POLICY              what DICOM may leave to clients: 'anonymize' (default: every DICOM file
                            sent is anonymized, whatever the client asks) or 'allow-raw' (a client
                            may get raw DICOM: patient name, IDs, institution; each raw file sent is
                            logged, and a warning is printed at start)
  --uid-secret-file FILE    the site's anonymization secret (created once, mode 600; default
                            ~/.rtfmri/uid-secret or env RTFMRI_UID_SECRET_FILE): the same scanner
                            UID maps to the same anonymized UID after a restart
  --cert FILE --key FILE    with --listen: serve wss://
  --ca FILE                 with --connect wss://: trust this CA (self-signed relay certificate)
  --watch-polling           poll folders (mounted shares without file events)
  --webrtc-bind ADDR        address this computer offers browsers for direct WebRTC data channels
                            (one the participant display can reach; default env RTFMRI_WEBRTC_BIND,
                            else 127.0.0.1; no STUN/TURN server is contacted)
  --no-webrtc               refuse direct channels: browsers use the relay
  --stream-window MIB       MiB of a client's upload stream this runtime lets arrive ahead of its
                            disk writes (default 4; 0.0625 to 1024): over a WAN an upload moves at
                            most this per round trip
  --quiet                   log only errors
  -h, --help                this help`;

export const serveCommand: Command = {
  name: 'serve',
  summary: 'the control-room runtime: dials out to a relay (or listens on a LAN)',
  help,
  async run(argv, io) {
    const p = parse(
      argv,
      {
        connect: { type: 'string' },
        listen: { type: 'string' },
        host: { type: 'string' },
        name: { type: 'string' },
        ...TOKEN_OPTIONS,
        'allowed-dirs': { type: 'string', multiple: true },
        'allowed-file-types': { type: 'string', multiple: true },
        'scanner-clock-skew': { type: 'string' },
        phi: { type: 'string' },
        'uid-secret-file': { type: 'string' },
        cert: { type: 'string' },
        key: { type: 'string' },
        ca: { type: 'string' },
        'watch-polling': { type: 'boolean' },
        'webrtc-bind': { type: 'string' },
        'no-webrtc': { type: 'boolean' },
        'stream-window': { type: 'string' },
        quiet: { type: 'boolean' },
      },
      { min: 0, max: 0 },
    );
    if (p.values.help) return io.out(help), 0;
    const connect = str(p, 'connect');
    const listen = port(p, 'listen');
    if (!connect === (listen === undefined)) throw new UsageError('give exactly one of --connect URL or --listen PORT');
    if (connect) checkUrl(connect, '--connect');
    const name = str(p, 'name') ?? 'scanner1';
    if (!/^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/.test(name)) throw new UsageError(`--name: use letters, digits, '.', '_', '-', '@' (got '${name}')`);
    const dirsRaw = list(p, 'allowed-dirs');
    const types = list(p, 'allowed-file-types');
    if (!dirsRaw?.length) throw new UsageError('--allowed-dirs is required (comma-separated folders, or * for all)');
    if (!types?.length) throw new UsageError('--allowed-file-types is required (e.g. .dcm,.txt, or * for all)');
    const skew = num(p, 'scanner-clock-skew') ?? 0;
    const uidFile = resolve(str(p, 'uid-secret-file') ?? process.env.RTFMRI_UID_SECRET_FILE ?? join(homedir(), '.rtfmri', 'uid-secret'));
    let uid: { secret: string; created: boolean };
    try {
      uid = loadUidSecret(uidFile);
    } catch (e) {
      throw new UsageError(`--uid-secret-file: ${(e as Error).message}`);
    }
    const phi = (str(p, 'phi') ?? 'anonymize') as PhiPolicy;
    if (!PHI_POLICIES.includes(phi)) throw new UsageError(`--phi: use ${PHI_POLICIES.join(' or ')} (got '${phi}')`);
    if (!!str(p, 'cert') !== !!str(p, 'key')) throw new UsageError('--cert and --key go together');
    if (str(p, 'cert') && !listen) throw new UsageError('--cert/--key are for --listen (the relay holds the certificate otherwise)');
    const token = await tokenFrom(p, io.err, 'this runtime\'s credential (the site secret or a runtime token)');
    const allowedDirs = await existingDirs(dirsRaw, '--allowed-dirs');
    const cert = str(p, 'cert') ? await readTextFile(str(p, 'cert')!, '--cert') : undefined;
    const key = str(p, 'key') ? await readTextFile(str(p, 'key')!, '--key') : undefined;
    const ca = str(p, 'ca') ? await readTextFile(str(p, 'ca')!, '--ca') : undefined;
    const webrtcBind = str(p, 'webrtc-bind');
    if (webrtcBind !== undefined && !isIP(webrtcBind)) throw new UsageError(`--webrtc-bind: give an IP address of this computer (got '${webrtcBind}')`);
    const windowMiB = num(p, 'stream-window', { min: 1 / 16, max: 1024 });
    const quiet = bool(p, 'quiet');
    const log = (l: string) => {
      // PHI lines (raw DICOM sent) are the operator's audit trail: printed even with --quiet.
      if (!quiet || /^PHI:|cannot|refused|error/i.test(l)) io.out(stamp(l));
    };
    let server;
    let fatal: Error | undefined;
    const stop = new AbortController();
    io.signal.addEventListener('abort', () => stop.abort(), { once: true });
    try {
      // Bulk traffic through a small heap (see disableIncrementalMarking).
      disableIncrementalMarking();
      server = await startRuntimeServer({
        onFatal: (e) => {
          fatal = e;
          stop.abort();
        },
        name,
        token,
        connect,
        listen,
        listenHost: str(p, 'host') ?? '127.0.0.1',
        cert,
        key,
        ws: ca ? { ca } : undefined,
        allowedDirs,
        allowedFileTypes: types,
        phi,
        uidSecret: uid.secret,
        scannerClockSkew: skew,
        watchRoute: bool(p, 'watch-polling') ? 'polling' : undefined,
        webrtc: bool(p, 'no-webrtc') ? false : { bindAddress: webrtcBind },
        streamWindow: windowMiB === undefined ? undefined : Math.round(windowMiB * 1024 * 1024),
        log,
      });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE') throw new UsageError(`port ${listen} is already in use`);
      if ((e as Error).name === 'ValidationError') throw new UsageError((e as Error).message);
      throw e;
    }
    const where = connect ? `dialing ${connect}` : `listening on ${server.relayServer!.url}`;
    if (phi === 'allow-raw') {
      io.out(stamp("WARNING: --phi allow-raw: clients may receive raw DICOM (patient name, IDs, institution, device serial); every raw file sent is logged as 'PHI: raw DICOM sent'"));
    }
    log(`anonymization secret ${uidFile}${uid.created ? ' (created now: back it up with the study data)' : ''}`);
    log(`runtime '${name}' (instance ${server.service.instance}) serving ${allowedDirs.join(',')} [${types.join(',')}], phi ${phi}, ${where}`);
    const host = str(p, 'host') ?? '127.0.0.1';
    if (!connect && (host === '127.0.0.1' || host === 'localhost' || host === '::1')) {
      // The loopback default is for a trial on one machine; say how to serve the LAN.
      log('listening on this machine only (a trial); for experiment computers on the LAN: --host 0.0.0.0 (or this computer\'s LAN address) --cert FILE --key FILE');
    }
    await untilAborted(stop.signal);
    if (!fatal) log('runtime shutting down');
    await server.close();
    if (fatal) {
      io.err(`rtfmri serve: ${fatal.message}`);
      return 1;
    }
    return 0;
  },
};
