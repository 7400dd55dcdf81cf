// Loads the WebAssembly core and drives its structural walk (see src/core/walker.c).
// The module is embedded as base64 (generated/dicom-wasm-bytes.js) so Node, browsers and bundlers
// load it the same way, with no fetch or file path.
import { wasmBase64 } from '../generated/dicom-wasm-bytes.js';
import { DicomParseError } from './errors.js';
import { NodeBuf } from './node-buffer.js';

interface CoreExports {
  memory: WebAssembly.Memory;
  dw_begin(start: number, mode: number): void;
  dw_set_syntax(explicitVR: number, bigEndian: number): void;
  dw_walk(ptr: number, base: number, len: number, fileLength: number): number;
  dw_pos(): number;
  dw_err_code(): number;
  dw_err_offset(): number;
  dw_table_ptr(): number;
  dw_rows(): number;
  dw_row_base(): number;
  dw_patch_ptr(): number;
  dw_patch_count(): number;
  dw_table_reset(): void;
  dw_set_table_cap(n: number): void;
  dw_window_ptr(): number;
  dw_window_cap(): number;
  dw_input(len: number): number;
}

/** Words per table row and their meaning (mirrors walker.c). */
export const ROW_WORDS = 8;
export const R_TAG = 0, R_VRF = 1, R_HDR = 2, R_VAL = 3, R_LEN = 4, R_END = 5, R_PARENT = 6, R_NEXT = 7;
export const F_UNDEF = 0x1, F_ITEM = 0x2, F_FRAGMENT = 0x4, F_ENCAPS = 0x8, F_SEQ = 0x10, F_META = 0x20,
  F_BE = 0x40, F_IMPLICIT = 0x80;
export const UNDEF = 0xffffffff;

const S_DONE = 0, S_NEED_DATA = 1, S_TABLE_FULL = 2, S_META_END = 3, S_ERROR = 4;
export const MODE_META = 1, MODE_EXPLICIT = 2, MODE_BIG_ENDIAN = 4;

const REASONS = [
  'no error',
  'truncated element header',
  'value extends past end of data',
  'invalid VR',
  'value length exceeds enclosing item or sequence',
  'expected item or sequence delimiter inside sequence',
  'delimiter or item outside a matching sequence',
  'sequences nested too deeply',
  'undefined length on a VR that cannot have it',
  'data ends inside an undefined-length sequence, item or pixel data',
  'encapsulated fragment with undefined length',
  'undefined-length item or sequence not terminated within its enclosing length',
];

let core: CoreExports | undefined;
let readyPromise: Promise<void> | undefined;
/** Milliseconds the last instantiation took (for the benchmark). */
export let instantiateMs = 0;

/** A module's bytes from its base64 text (generated/*-bytes.js). */
export function moduleBytes(base64: string): Uint8Array<ArrayBuffer> {
  if (NodeBuf) {
    const b = NodeBuf.from(base64, 'base64');
    return new Uint8Array(b.buffer as ArrayBuffer, b.byteOffset, b.length);
  }
  const s = atob(base64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/**
 * Instantiates the module once; later calls return the same promise. Synchronous compilation is
 * used where allowed (Node, workers, and browsers' main thread for a module this small): it is
 * faster than the async path, which waits for a background compile task.
 */
export function ready(): Promise<void> {
  if (core) return Promise.resolve();
  readyPromise ??= (async () => {
    try {
      coreSync();
      return;
    } catch {
      // fall through: an environment that forbids synchronous compilation
    }
    const t0 = performance.now();
    const module = await WebAssembly.compile(moduleBytes(wasmBase64));
    const instance = await WebAssembly.instantiate(module, {});
    core ??= instance.exports as unknown as CoreExports;
    instantiateMs = performance.now() - t0;
  })();
  return readyPromise;
}

/**
 * The synchronous API works without `await ready()` where synchronous compilation is allowed
 * (Node, workers; the module is ~10 KB, under browsers' main-thread limit too in practice).
 */
export function coreSync(): CoreExports {
  if (!core) {
    const t0 = performance.now();
    const instance = new WebAssembly.Instance(new WebAssembly.Module(moduleBytes(wasmBase64)), {});
    core = instance.exports as unknown as CoreExports;
    instantiateMs = performance.now() - t0;
  }
  return core;
}

/** Forget the instance (benchmarks measure instantiation; tests exercise table flushing). */
export function resetCoreForTesting(tableCap?: number): void {
  core = undefined;
  readyPromise = undefined;
  if (tableCap !== undefined) coreSync().dw_set_table_cap(tableCap);
}

/**
 * A view of `length` bytes inside the module's memory. Read a file straight into it
 * (`fs.readSync(fd, view)`) and pass it (or a prefix subarray) to parseDicom / isComplete:
 * the walk then copies nothing. There is one such region: the next allocInput call reuses it and,
 * when it must grow, detaches earlier views, so a DicomDataset parsed from the view is valid only
 * until then (copy with `.slice()` to keep bytes).
 */
export function allocInput(length: number): Uint8Array {
  const c = coreSync();
  if (!Number.isInteger(length) || length < 0 || length > 0x7fff0000) throw new RangeError(`allocInput: bad length ${length}`);
  const ptr = c.dw_input(length);
  if (ptr === 0) throw new RangeError(`allocInput: cannot grow WebAssembly memory to ${length} bytes`);
  return new Uint8Array(c.memory.buffer, ptr, length);
}

/** True when `bytes` is a view of the module's memory (allocInput), so no copy is needed. */
export function inModuleMemory(bytes: Uint8Array): boolean {
  return core !== undefined && bytes.buffer === core.memory.buffer;
}

/** The walk's outcome: rows (ROW_WORDS words each, absolute row indices in R_PARENT/R_NEXT). */
export interface WalkOutcome {
  rows: Uint32Array;
  /** 'meta' when the walk stopped at the end of the file meta group */
  stopped: 'done' | 'meta';
  pos: number;
}

/**
 * Walks `src` from the walker's current state until it finishes or reaches the end of the meta group.
 * Rows from earlier calls in the same parse are passed in `prior` and returned concatenated.
 */
export class Walk {
  private chunks: Uint32Array[] = [];
  private patches: number[] = [];
  private c: CoreExports;
  constructor(start: number, mode: number) {
    this.c = coreSync();
    this.c.dw_begin(start, mode);
  }

  setSyntax(explicitVR: boolean, bigEndian: boolean): void {
    this.c.dw_set_syntax(explicitVR ? 1 : 0, bigEndian ? 1 : 0);
  }

  /** Runs until done ('done') or the meta group ends ('meta'). Throws DicomParseError. */
  run(src: Uint8Array): 'done' | 'meta' {
    const c = this.c;
    const fileLen = src.length;
    const inMem = src.buffer === c.memory.buffer;
    let status: number;
    if (inMem) {
      for (;;) {
        status = c.dw_walk(src.byteOffset, 0, fileLen, fileLen);
        if (status !== S_TABLE_FULL) break;
        this.flush();
      }
    } else {
      const winPtr = c.dw_window_ptr();
      const winCap = c.dw_window_cap();
      let winStart = c.dw_pos();
      // Headers come in runs between large values: start with a window that holds a typical run
      // and double it while the walker keeps reading contiguously.
      let next = Math.min(winCap, 8192);
      let winLen = Math.min(next, Math.max(0, fileLen - winStart));
      new Uint8Array(c.memory.buffer, winPtr, winLen).set(src.subarray(winStart, winStart + winLen));
      for (;;) {
        status = c.dw_walk(winPtr, winStart, winLen, fileLen);
        if (status === S_TABLE_FULL) {
          this.flush();
        } else if (status === S_NEED_DATA) {
          // After a skipped value the next headers are usually few (the mosaic: 4 after the CSA
          // header): start small again; a run that goes on doubles the window.
          const prevEnd = winStart + winLen;
          winStart = c.dw_pos();
          next = winStart <= prevEnd ? Math.min(winCap, next * 2) : 2048;
          winLen = Math.min(next, fileLen - winStart);
          new Uint8Array(c.memory.buffer, winPtr, winLen).set(src.subarray(winStart, winStart + winLen));
        } else break;
      }
    }
    if (status === S_ERROR) {
      const code = c.dw_err_code();
      throw new DicomParseError(REASONS[code] ?? `walker error ${code}`, c.dw_err_offset());
    }
    return status === S_META_END ? 'meta' : 'done';
  }

  pos(): number {
    return this.c.dw_pos();
  }

  private flush(): void {
    const c = this.c;
    const n = c.dw_rows();
    this.chunks.push(new Uint32Array(c.memory.buffer, c.dw_table_ptr(), n * ROW_WORDS).slice());
    const pc = c.dw_patch_count();
    if (pc) this.patches.push(...new Uint32Array(c.memory.buffer, c.dw_patch_ptr(), pc * 3));
    c.dw_table_reset();
  }

  /** All rows of the parse so far (safe to call more than once). */
  rows(): Uint32Array {
    const c = this.c;
    const n = c.dw_rows();
    const last = new Uint32Array(c.memory.buffer, c.dw_table_ptr(), n * ROW_WORDS);
    if (this.chunks.length === 0) return last.slice();
    const patches = this.patches.slice();
    const pc = c.dw_patch_count();
    if (pc) patches.push(...new Uint32Array(c.memory.buffer, c.dw_patch_ptr(), pc * 3));
    const total = this.chunks.reduce((s, ch) => s + ch.length, 0) + last.length;
    const rows = new Uint32Array(total);
    let o = 0;
    for (const ch of this.chunks) { rows.set(ch, o); o += ch.length; }
    rows.set(last, o);
    for (let i = 0; i < patches.length; i += 3) {
      const r = patches[i] * ROW_WORDS;
      rows[r + R_END] = patches[i + 1];
      rows[r + R_NEXT] = patches[i + 2];
    }
    return rows;
  }
}
