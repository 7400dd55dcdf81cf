// `rtfmri token client|runtime`: credentials minted from the site secret, so experiments and
// participant pages never hold the secret, and each gets only what it needs.
import { list, parse, str, UsageError } from './args.js';
import type { Command } from './command.js';
import { TOKEN_OPTIONS, tokenFrom } from './common.js';
import { METHOD_SCOPES, mintClientToken, mintRuntimeToken } from '../tokens.js';
import { validName } from '../framing.js';

const help = `Usage: rtfmri token client [--sub NAME] [--runtimes A,B] [--methods SCOPE|M1,M2] [--ttl DURATION] --token-file SECRET_FILE
       rtfmri token runtime --name NAME --token-file SECRET_FILE

Prints a credential minted from the relay's site secret (--token-file, or env RTFMRI_TOKEN):
  client    a scoped token for an experiment script or a participant's page: which runtimes
            (default all), which methods (${Object.keys(METHOD_SCOPES).join(', ')} or a list; default all),
            for how long (e.g. 90m, 2h, 1d; default: no expiry). A page should get e.g.
            --methods stream --runtimes scanner1 --ttl 3h.
  runtime   the credential of one runtime name for 'rtfmri serve --token-file', when the control
            room should not hold the site secret itself.
The relay recomputes these from the secret: it keeps no list, and changing the secret revokes all.`;

function seconds(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(s|m|h|d)?$/.exec(text);
  if (!m) throw new UsageError(`--ttl must look like 90m, 2h or 1d, got '${text}'`);
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[(m[2] ?? 's') as 's' | 'm' | 'h' | 'd'];
}

export const tokenCommand: Command = {
  name: 'token',
  summary: 'mint a scoped client token or a runtime credential from the site secret',
  help,
  async run(argv, io) {
    const p = parse(argv, { ...TOKEN_OPTIONS, sub: { type: 'string' }, runtimes: { type: 'string' }, methods: { type: 'string' }, ttl: { type: 'string' }, name: { type: 'string' } }, { min: 0, max: 1 });
    if (p.values.help) return io.out(help), 0;
    const kind = p.positionals[0];
    if (kind !== 'client' && kind !== 'runtime') throw new UsageError("say 'client' or 'runtime'");
    const secret = await tokenFrom(p, io.err, 'the site secret');
    if (kind === 'runtime') {
      const name = str(p, 'name');
      if (!name || !validName(name)) throw new UsageError('--name NAME is required (letters, digits, . _ @ -)');
      io.out(mintRuntimeToken(secret, name));
      return 0;
    }
    const sub = str(p, 'sub') ?? 'experiment';
    if (!validName(sub)) throw new UsageError(`--sub: not a valid name: '${sub}'`);
    const runtimes = list(p, 'runtimes');
    if (runtimes?.some((r) => !validName(r))) throw new UsageError('--runtimes: names are letters, digits, . _ @ -');
    const m = str(p, 'methods');
    const methods = m === undefined ? undefined : m.includes(',') || !(m in METHOD_SCOPES) ? m.split(',').map((x) => x.trim()).filter(Boolean) : m;
    try {
      io.out(mintClientToken(secret, { sub, runtimes: runtimes ?? '*', methods, ttlSeconds: str(p, 'ttl') ? seconds(str(p, 'ttl')!) : undefined }));
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    return 0;
  },
};
