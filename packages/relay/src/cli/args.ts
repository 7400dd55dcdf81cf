import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A mistake in how the command was called: printed as one line, exit code 2, never a stack trace. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

export interface Parsed {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

/** Strict parse: unknown flags, missing values and stray positionals are UsageErrors. */
export function parse(argv: string[], options: OptionSpec, positionals: { min: number; max: number }): Parsed {
  let res: Parsed;
  try {
    res = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: true }) as Parsed;
  } catch (e) {
    // node's messages are long and mention internals; keep the first sentence.
    const msg = (e as Error).message.split('. ')[0]!.replace(/\s+/g, ' ');
    throw new UsageError(msg);
  }
  if (res.values.help) return res;
  if (res.positionals.length < positionals.min) throw new UsageError(`expected ${positionals.min} argument(s), got ${res.positionals.length}`);
  if (res.positionals.length > positionals.max) throw new UsageError(`unexpected argument '${res.positionals[positionals.max]}'`);
  return res;
}

export function str(p: Parsed, name: string): string | undefined {
  const v = p.values[name];
  return typeof v === 'string' ? v : undefined;
}

export function list(p: Parsed, name: string): string[] | undefined {
  const v = p.values[name];
  if (v === undefined || typeof v === 'boolean') return undefined;
  const items = (Array.isArray(v) ? v : [v]).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
  return items;
}

export function num(p: Parsed, name: string, opts: { min?: number; max?: number; int?: boolean; positive?: boolean } = {}): number | undefined {
  const raw = str(p, name);
  if (raw === undefined) return undefined;
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v)) throw new UsageError(`--${name} must be a number, got '${raw}'`);
  if (opts.int && !Number.isInteger(v)) throw new UsageError(`--${name} must be an integer, got '${raw}'`);
  if (opts.positive && v <= 0) throw new UsageError(`--${name} must be greater than 0, got '${raw}'`);
  if (opts.min !== undefined && v < opts.min) throw new UsageError(`--${name} must be at least ${opts.min}, got '${raw}'`);
  if (opts.max !== undefined && v > opts.max) throw new UsageError(`--${name} must be at most ${opts.max}, got '${raw}'`);
  return v;
}

export function port(p: Parsed, name: string): number | undefined {
  return num(p, name, { int: true, min: 0, max: 65535 });
}

export function bool(p: Parsed, name: string): boolean {
  return p.values[name] === true;
}
