import { ValidationError } from '@rtfmri/transport';

/**
 * The DataInterface methods a session may call on a runtime (DESIGN.md's API): the one allow-list
 * the runtime exposes, the SDK calls and the relay's scoped tokens name.
 */
export const DATA_INTERFACE_METHODS = [
  'initScannerStream', 'getImageData', 'closeStream', 'getFile', 'getNewestFile', 'initWatch', 'watchFile',
  'putFile', 'listFiles', 'listDirs', 'getAllowedFileTypes', 'getClockSkew', 'ping',
  'initSeriesWatch', 'nextSeries', 'closeSeriesWatch',
] as const;
export type DataInterfaceMethod = (typeof DATA_INTERFACE_METHODS)[number];

/**
 * The per-call options every DataInterface method takes as its last argument (rt-cloud's
 * `rpc_timeout=`). They never cross the wire as an argument: `timeout` becomes the call's deadline
 * and `signal` cancels it (locally: the wait ends; remotely: the RPC is cancelled and the runtime's
 * wait ends too).
 */
export interface DataCallOptions {
  /**
   * Seconds the whole call may take. For the data waits (getImageData, watchFile, nextSeries) it
   * also bounds the wait: the wait ends at the smaller of this and the method's own `timeout`
   * argument (which defaults to it when not given), with the wait's own error.
   */
  timeout?: number;
  /** Abort to cancel the call: it rejects with a CancelledError. */
  signal?: AbortSignal;
}

/** What an argument must be (the type part; ranges are the runtime's own checks). */
type ArgKind = 'string' | 'number' | 'boolean' | 'data' | 'object';

interface ArgSpec {
  readonly name: string;
  readonly kind: ArgKind;
  /** May be left out (undefined); null counts as left out too for these. */
  readonly optional?: boolean;
  /** How the message describes what is expected. */
  readonly expected: string;
}

const path = (name: string, what: string): ArgSpec => ({ name, kind: 'string', expected: `a string (${what})` });
const timeoutArg: ArgSpec = { name: 'timeout', kind: 'number', optional: true, expected: 'a number of seconds > 0 (or null for the default)' };
const minFileSize: ArgSpec = { name: 'minFileSize', kind: 'number', optional: true, expected: 'a number of bytes >= 0' };
const demoStep: ArgSpec = { name: 'demoStep', kind: 'number', optional: true, expected: 'a number of seconds >= 0' };
const streamId: ArgSpec = { name: 'streamId', kind: 'number', expected: 'a number (the id initScannerStream returned)' };

/** The positional arguments of each method, in DESIGN.md's order. */
export const METHOD_ARGS: Readonly<Record<DataInterfaceMethod, readonly ArgSpec[]>> = {
  initScannerStream: [
    path('imgDir', 'the absolute path of the image folder'),
    { name: 'filePattern', kind: 'string', expected: "a string (a file name with {TR}, e.g. '001_000013_{TR:06d}.dcm')" },
    minFileSize,
    { name: 'anonymize', kind: 'boolean', optional: true, expected: 'a boolean' },
    demoStep,
  ],
  getImageData: [
    streamId,
    { name: 'imageIndex', kind: 'number', optional: true, expected: 'an integer >= 0, or null for the next image' },
    timeoutArg,
  ],
  closeStream: [streamId],
  getFile: [path('filename', 'an absolute file path')],
  getNewestFile: [path('filepattern', "an absolute glob pattern, e.g. '/data/scan/*.dcm'")],
  initWatch: [
    path('dir', 'the absolute path of the folder to watch'),
    { name: 'filePattern', kind: 'string', expected: "a string (a file name pattern such as '*.dcm', or an absolute pattern inside dir)" },
    minFileSize,
    demoStep,
  ],
  watchFile: [path('filename', 'a file name, or its absolute path in a watched folder'), timeoutArg],
  putFile: [
    path('filename', 'an absolute file path'),
    { name: 'data', kind: 'data', expected: 'a string, bytes (Uint8Array) or a stream of bytes' },
    { name: 'compress', kind: 'boolean', optional: true, expected: 'a boolean' },
  ],
  listFiles: [path('filepattern', "an absolute glob pattern, e.g. '/data/scan/*.dcm'")],
  listDirs: [path('dirpattern', "an absolute glob pattern, e.g. '/data/scan/*'")],
  getAllowedFileTypes: [],
  getClockSkew: [
    { name: 'callerClockTime', kind: 'number', expected: 'a number (seconds since the epoch)' },
    { name: 'roundTripTime', kind: 'number', expected: 'a number (seconds)' },
  ],
  ping: [],
  initSeriesWatch: [
    path('sessionDir', 'the absolute path of the session folder'),
    { name: 'options', kind: 'object', optional: true, expected: 'an object { pattern?, filePattern?, depth?, existing?, exclude? }' },
  ],
  nextSeries: [timeoutArg],
  closeSeriesWatch: [],
};

/** A plain object literal (`{ ... }`): the only shape the per-call options argument can have. */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v) || ArrayBuffer.isView(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** A short description of a value for an error message: `string 'abc'`, `number 5`, `Uint8Array(12)`. */
export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (typeof v === 'string') return `string '${v.length > 40 ? `${v.slice(0, 40)}...` : v}'`;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return `${typeof v} ${String(v)}`;
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (ArrayBuffer.isView(v)) return `${v.constructor?.name ?? 'a typed array'}(${v.byteLength})`;
  if (v instanceof ArrayBuffer) return `ArrayBuffer(${v.byteLength})`;
  if (typeof v === 'function') return 'a function';
  const name = (v as object).constructor?.name;
  return name && name !== 'Object' ? `a ${name}` : 'an object';
}

/** An async (or sync, non-string) iterable: a stream of bytes (the RPC's ByteStream / IncomingStream, a Node Readable). */
function isByteStreamLike(v: unknown): boolean {
  if (v === null || typeof v !== 'object' || ArrayBuffer.isView(v)) return false;
  return typeof (v as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function' || typeof (v as Iterable<unknown>)[Symbol.iterator] === 'function';
}

function kindOk(kind: ArgKind, v: unknown): boolean {
  switch (kind) {
    case 'string': return typeof v === 'string';
    case 'number': return typeof v === 'number' && !Number.isNaN(v);
    case 'boolean': return typeof v === 'boolean';
    // A stream of bytes too (issue 11: a large putFile travels as one; the runtime writes it as it comes).
    case 'data': return typeof v === 'string' || v instanceof Uint8Array || v instanceof ArrayBuffer || isByteStreamLike(v);
    case 'object': return isPlainObject(v);
  }
}

/**
 * Refuses an argument of the wrong type with a message that names the method, the argument and
 * what was expected: `getImageData: argument 1 (streamId) must be a number (the id
 * initScannerStream returned); got string '1'`. Only the types: ranges are the runtime's checks.
 */
export function checkArgs(method: DataInterfaceMethod, args: readonly unknown[]): void {
  const spec = METHOD_ARGS[method];
  for (let i = 0; i < spec.length; i++) {
    const a = spec[i];
    const v = args[i];
    if ((v === undefined || v === null) && a.optional) continue;
    if (!kindOk(a.kind, v)) {
      throw new ValidationError(`${method}: argument ${i + 1} (${a.name}) must be ${a.expected}; got ${describeValue(v)}`, {
        details: { reason: 'ARG_TYPE', method, argument: a.name, position: i + 1, expected: a.expected },
      });
    }
  }
}

function looksLikeSignal(v: unknown): v is AbortSignal {
  return typeof v === 'object' && v !== null && typeof (v as AbortSignal).aborted === 'boolean' && typeof (v as AbortSignal).addEventListener === 'function';
}

/** Validates a per-call options object (`{ timeout?: seconds, signal?: AbortSignal }`). */
export function checkCallOptions(method: string, o: Record<string, unknown>, extraKeys: readonly string[] = []): DataCallOptions {
  for (const k of Object.keys(o)) {
    if (k !== 'timeout' && k !== 'signal' && !extraKeys.includes(k)) {
      throw new ValidationError(`${method}: unknown option '${k}' (the per-call options are { timeout?: seconds, signal?: AbortSignal }${extraKeys.length ? `; this method also takes ${extraKeys.join(', ')}` : ''})`, { details: { reason: 'ARG_TYPE', method, argument: 'options' } });
    }
  }
  const out: DataCallOptions = {};
  if (o.timeout !== undefined && o.timeout !== null) {
    if (typeof o.timeout !== 'number' || Number.isNaN(o.timeout) || o.timeout <= 0) {
      throw new ValidationError(`${method}: options.timeout must be a number of seconds > 0; got ${describeValue(o.timeout)}`, { details: { reason: 'ARG_TYPE', method, argument: 'options.timeout' } });
    }
    out.timeout = o.timeout;
  }
  if (o.signal !== undefined && o.signal !== null) {
    if (!looksLikeSignal(o.signal)) {
      throw new ValidationError(`${method}: options.signal must be an AbortSignal; got ${describeValue(o.signal)}`, { details: { reason: 'ARG_TYPE', method, argument: 'options.signal' } });
    }
    out.signal = o.signal;
  }
  return out;
}

/** initSeriesWatch's own options (its second argument also carries the per-call options). */
export const SERIES_WATCH_OPTION_KEYS = ['pattern', 'filePattern', 'depth', 'existing', 'exclude'] as const;

/**
 * Splits a call's arguments into the positional ones and the per-call options. The options are
 * the last argument when it is a plain object (`{ timeout, signal }`) standing at or after the
 * method's required arguments, so both `getImageData(id, null, 30, { signal })` and
 * `getImageData(id, { timeout: 30 })` work and DESIGN's positional forms are unchanged. For
 * initSeriesWatch, whose second argument is an options object anyway, `timeout` and `signal` are
 * taken out of it. Validates the options; the positional types are checkArgs'.
 */
export function splitCallOptions(method: DataInterfaceMethod, raw: readonly unknown[]): { args: unknown[]; options: DataCallOptions | undefined } {
  const spec = METHOD_ARGS[method];
  if (method === 'initSeriesWatch') {
    const o = raw[1];
    if (!isPlainObject(o)) return { args: [...raw], options: undefined };
    const { timeout, signal, ...rest } = o;
    const options = checkCallOptions(method, { timeout, signal });
    return { args: [raw[0], rest, ...raw.slice(2)], options };
  }
  let n = raw.length;
  while (n > 0 && raw[n - 1] === undefined) n--;
  const required = spec.filter((a) => !a.optional).length;
  const last = raw[n - 1];
  if (n > required && isPlainObject(last)) {
    return { args: raw.slice(0, n - 1), options: checkCallOptions(method, last) };
  }
  return { args: [...raw], options: undefined };
}

/** The data waits: the per-call `timeout` bounds their own wait (index of their timeout argument). */
export const WAIT_TIMEOUT_ARG: Partial<Record<DataInterfaceMethod, number>> = { getImageData: 2, watchFile: 1, nextSeries: 0 };

/**
 * A data wait's effective timeout in seconds: its own argument, or the per-call timeout when the
 * argument is not given, and never longer than the per-call timeout. `undefined`: the default (5 s).
 */
export function effectiveWait(own: unknown, options: DataCallOptions | undefined): unknown {
  const call = options?.timeout;
  if (own === undefined || own === null) return call;
  if (call !== undefined && typeof own === 'number' && own > call) return call;
  return own;
}

// What the series-discovery methods take and answer (initSeriesWatch's options, nextSeries' result),
// as they travel: one definition for the runtime and the SDK.
export interface SeriesWatchOptions {
  /** Glob on a series folder's name (`*`, `?`, `[..]`, `{a,b}`). Default `*`. */
  pattern?: string;
  /** Glob on the name of the file that counts as the series' first. Default `*` (of an allowed type). */
  filePattern?: string;
  /** How many levels below the session folder the series folders sit: 1 (default) = its children; 2 = grandchildren (e.g. root/session/series). 1..4. */
  depth?: number;
  /** Folders already there when the watch starts: 'ignore' (default; initSeriesWatch returns them) or 'report' (reported first, in name order). */
  existing?: 'ignore' | 'report';
  /** Series folders (absolute) never to report, e.g. those a restarted runtime already reported. */
  exclude?: string[];
}

export interface SeriesInfo {
  /** The series folder (absolute, real path). */
  dir: string;
  /** Its path relative to the session folder. */
  name: string;
  /** Its first file (absolute): the lowest name among the first files seen. */
  firstFile: string;
  /**
   * A stream pattern guessed from the first file's name: its last run of digits as `{TR:0Nd}`
   * (`001_000013_000001.dcm` -> `001_000013_{TR:06d}.dcm`), or null when the name has none.
   */
  filePattern: string | null;
  /** The number in the first file's name that `filePattern` replaced (null with it). */
  firstIndex: number | null;
  /** Seconds since the epoch when the first file was seen. */
  foundAt: number;
}
