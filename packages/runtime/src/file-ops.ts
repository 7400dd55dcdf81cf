// The file operations of the DataInterface (getFile, getNewestFile, getFileStream, putFile, listFiles,
// listDirs) and the PHI policy on what they hand out: every path checked on the open descriptor
// (its real path inside the allowed folders, its type), large files read and written in chunks
// off the event loop, writes atomic (temp file + rename) under folders verified as they are made.
import fs from 'node:fs';
import path from 'node:path';
import { ByteStream } from '@rtfmri/transport';
import { glob, isWithin, splitGlob, tempNameFor } from '@rtfmri/files';
import { NotFoundError, ValidationError } from './errors.js';
import type { PathPolicy } from './paths.js';
import { anonymizeFor, dicomKind } from './check.js';
import { HAS_PROC_FD, inFd, openDirVerified, openForRead, readAllFd, stillAllowed, type PolicySnapshot, type VerifiedDir } from './verified.js';
import { FILE_CHUNK, FileChunks, isByteSource, readAllAsync, readChunk, SYNC_READ_MAX, writeChunks, type ChunkMemory } from './file-stream.js';
import { mapFsError } from './fs-errors.js';
import type { FileStream, PhiPolicy, PutFileData, RemoteFileStream } from './data-interface.js';

export interface FileOpsContext {
  policy: PathPolicy;
  phi: PhiPolicy;
  phiLog: ((line: string) => void) | undefined;
  /** The session's UID-map secret (DICOM handed out under 'anonymize'). */
  uidSecret: string;
  /** Throws once the DataInterface is closed. */
  ensureOpen: () => void;
}

export class FileOps {
  private readonly policy: PathPolicy;
  private readonly phi: PhiPolicy;
  private readonly phiLog: ((line: string) => void) | undefined;
  private readonly uidSecret: string;
  private readonly ensureOpen: () => void;

  constructor(ctx: FileOpsContext) {
    this.policy = ctx.policy;
    this.phi = ctx.phi;
    this.phiLog = ctx.phiLog;
    this.uidSecret = ctx.uidSecret;
    this.ensureOpen = ctx.ensureOpen;
  }

  /**
   * @internal getFile reading into memory from `alloc(size)` (the runtime service lends reused
   * reply buffers: a fresh 0.5 MB buffer per call costs page faults and GC on the hot path).
   * `remote`: the PHI policy applies to what is returned.
   */
  async readFileInto(filename: string, alloc?: (size: number) => Uint8Array, remote = false, chunkMemory?: ChunkMemory): Promise<Uint8Array> {
    this.ensureOpen();
    // A first check on the name (refuses early, with the usual messages); the one that decides is
    // made on the open descriptor.
    this.policy.checkDir(filename);
    // `..` is resolved by name (DESIGN "Semantics"), as the check above did, before the open.
    if (remote) return this.remoteRead(path.resolve(filename), filename, 'getFile', alloc, chunkMemory) as Promise<Uint8Array>;
    return this.readVerified(path.resolve(filename), filename, alloc);
  }

  /**
   * @internal The remote getFile/getNewestFile: a file up to SYNC_READ_MAX, or DICOM content under
   * the 'anonymize' policy (anonymized in memory, as before: DICOM files are small), comes back as
   * bytes; anything larger whose first bytes are not DICOM (and, under 'allow-raw', any large
   * file) as `{ size, stream }`, read from disk in chunks as the link takes them (RemoteFileStream).
   */
  async remoteRead(p: string, shown: string, method: 'getFile' | 'getNewestFile', alloc?: (size: number) => Uint8Array, chunkMemory?: ChunkMemory): Promise<Uint8Array | RemoteFileStream> {
    const o = this.openVerified(p, shown);
    if (o.st.size <= SYNC_READ_MAX) {
      let bytes: Uint8Array;
      try {
        bytes = readAllFd(o.fd, o.st.size, alloc);
      } catch (err) {
        throw mapFsError(err, shown);
      } finally {
        fs.closeSync(o.fd);
      }
      return this.phiOut(bytes, method, shown);
    }
    let handedOver = false;
    try {
      const first = await readChunk(o.fd, 0, Math.min(FILE_CHUNK, o.st.size), shown);
      // "Not DICOM" is decided by the first element header (dicom-wasm: no DICM at 128 and no data
      // set start), so the first bytes say it for the whole file.
      const kind = dicomKind(first.subarray(0, 4096));
      if (kind === null || this.phi === 'allow-raw') {
        if (kind !== null) this.auditRaw(method, shown);
        handedOver = true;
        return { size: o.st.size, stream: new ByteStream(new FileChunks(o.fd, o.st, shown, first, chunkMemory)) };
      }
      return this.phiOut(await readAllAsync(o.fd, o.st, shown, undefined, first), method, shown);
    } catch (err) {
      throw mapFsError(err, shown);
    } finally {
      if (!handedOver) fs.close(o.fd, () => undefined);
    }
  }

  /**
   * A file as a stream of chunks read from disk as they are consumed (memory: about two chunks),
   * for files too large to hold or to hand on as they arrive. In this process: the file's bytes,
   * as getFile. Through the SDK's remote DataInterface the runtime's PHI policy applies as for getFile.
   */
  async getFileStream(filename: string): Promise<FileStream> {
    this.ensureOpen();
    if (typeof filename !== 'string') throw new ValidationError('getFileStream: filename must be a string');
    this.policy.checkDir(filename);
    const o = this.openVerified(path.resolve(filename), filename);
    const chunks = new FileChunks(o.fd, o.st, filename);
    return {
      size: chunks.size,
      close: () => chunks.close(),
      [Symbol.asyncIterator]: () => (async function* () {
        try {
          yield* chunks;
        } catch (err) {
          throw mapFsError(err, filename);
        }
      })(),
    };
  }

  async newestFile(filepattern: string, remote: boolean): Promise<Uint8Array> {
    this.ensureOpen();
    const { base, rest } = this.splitChecked(filepattern);
    this.policy.checkPatternType(rest[rest.length - 1]);
    const files = glob(filepattern, { want: 'files', allowReal: (r) => this.policy.isRealPathAllowed(r) })
      .filter((e) => this.policy.isTypeAllowed(e.path));
    if (files.length === 0) throw new NotFoundError(`No file found matching pattern ${filepattern}`, { details: { base } });
    let newest = files[0];
    for (const f of files) if (f.mtimeMs > newest.mtimeMs) newest = f;
    if (remote) return this.remoteRead(newest.path, newest.path, 'getNewestFile') as Promise<Uint8Array>;
    return this.readVerified(newest.path, newest.path);
  }

  /**
   * Opens once, checks the open descriptor (its real path inside the allowed dirs; a folder or a
   * non-regular file refused; the type of the name and of the file reached), reads from it: in
   * one call up to SYNC_READ_MAX, above that in chunks off the event loop.
   */
  async readVerified(p: string, shown: string, alloc?: (size: number) => Uint8Array): Promise<Uint8Array> {
    const o = this.openVerified(p, shown);
    if (o.st.size > SYNC_READ_MAX) {
      try {
        return await readAllAsync(o.fd, o.st, shown, alloc);
      } catch (err) {
        throw mapFsError(err, shown);
      } finally {
        fs.close(o.fd, () => undefined);
      }
    }
    try {
      return readAllFd(o.fd, o.st.size, alloc);
    } catch (err) {
      throw mapFsError(err, shown);
    } finally {
      fs.closeSync(o.fd);
    }
  }

  /** Opens `p` and checks the open descriptor (see readVerified); the caller closes the descriptor. */
  openVerified(p: string, shown: string): { fd: number; st: fs.Stats } {
    let o: ReturnType<typeof openForRead>;
    try {
      o = openForRead(p, this.policy.snapshot());
    } catch (err) {
      throw mapFsError(err, shown);
    }
    switch (o.status) {
      case 'missing': throw new NotFoundError(`File not found ${shown}`, { details: { path: shown } });
      case 'refused': throw this.refusal(shown, o.why, o.real);
      case 'directory': throw new ValidationError(`${shown} is a directory`, { details: { reason: 'EISDIR', path: shown } });
      case 'notfile': throw new ValidationError(`${shown} is not a regular file`, { details: { path: shown } });
    }
    return o;
  }

  /** The ValidationError for a file whose open descriptor failed the policy. */
  refusal(shown: string, why: 'dir' | 'type', real: string): ValidationError {
    if (why === 'dir') {
      return new ValidationError(`Path ${shown} not within list of allowed directories (it resolves to ${real})`, { details: { path: shown } });
    }
    try {
      this.policy.checkFileType(shown);
      this.policy.checkFileType(real);
    } catch (err) {
      if (err instanceof ValidationError) {
        if (real !== shown) err.message += ` (${shown} resolves to ${real})`;
        return err;
      }
    }
    return new ValidationError(`File type of ${shown} not in list of allowed file types`, { details: { path: shown } });
  }

  /**
   * The PHI policy on bytes about to leave through a remote method: DICOM (by content) leaves
   * anonymized under 'anonymize' (or not at all, when it cannot be), as it is under 'allow-raw'
   * (logged); anything else leaves as it is.
   */
  phiOut(bytes: Uint8Array, method: string, shown: string): Uint8Array {
    const kind = dicomKind(bytes);
    if (kind === null) return bytes;
    if (this.phi === 'allow-raw') {
      this.auditRaw(method, shown);
      return bytes;
    }
    if (kind !== 'broken') {
      try {
        return anonymizeFor(bytes, this.uidSecret);
      } catch {
        // refused below
      }
    }
    throw new ValidationError(
      `${method}: ${shown} is DICOM that cannot be anonymized (incomplete or corrupt); under the runtime's PHI policy ('anonymize') DICOM leaves only anonymized`,
      { details: { reason: 'PHI', path: shown } },
    );
  }

  /** One line per raw DICOM file sent to a remote caller. */
  auditRaw(method: string, file: string): void {
    const line = `PHI: raw DICOM sent (policy allow-raw): ${method} ${file}`;
    if (this.phiLog) this.phiLog(line);
    else process.stderr.write(`${line}\n`);
  }

  async putFileNow(filename: string, data: PutFileData, compress: boolean | null = false): Promise<void> {
    this.ensureOpen();
    void compress; // compression is the link's business: data arrives here already inflated
    const real = this.policy.checkFile(filename);
    let bytes: Uint8Array | AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>;
    const d: unknown = data;
    if (typeof d === 'string') bytes = Buffer.from(d, 'utf8');
    else if (d instanceof Uint8Array) bytes = d;
    else if (d instanceof ArrayBuffer) bytes = new Uint8Array(d);
    // A stream (a remote putFile of a large file arrives as one): written chunk by chunk as it comes.
    else if (isByteSource(d)) bytes = d;
    else throw new ValidationError('putFile: data must be a string, bytes or a stream of bytes');
    try {
      await this.writeVerified(real, bytes, filename);
    } catch (err) {
      throw mapFsError(err, filename);
    }
  }

  /**
   * Whole-or-nothing write under verified folders. From the allowed dir that holds `real`, each
   * folder on the way is created if missing, opened, and its open descriptor's real path checked;
   * the next one is made and opened *through* that descriptor (Linux: /proc/self/fd/N/name, i.e.
   * mkdirat/openat/renameat), so a folder swapped for a symlink meanwhile is never entered. The temp
   * file is written in the last folder, whose real path is checked again right before the rename.
   */
  async writeVerified(real: string, bytes: Uint8Array | AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>, shown: string): Promise<void> {
    const snap = this.policy.snapshot();
    const roots = snap.dirs === null ? [path.parse(real).root] : snap.dirs.filter((d) => isWithin(real, d));
    const root = roots.sort((x, y) => y.length - x.length)[0];
    if (!root) throw new ValidationError(`Path ${shown} not within list of allowed directories`, { details: { path: shown } });
    const segs = path.relative(root, path.dirname(real)).split(path.sep).filter((x) => x !== '');
    const name = path.basename(real);
    // An allowed dir that does not exist yet is created (the operator named it).
    if (!fs.existsSync(root)) fs.mkdirSync(root, { recursive: true });
    const refusedAt = (where: string) =>
      new ValidationError(`Path ${shown} not within list of allowed directories (${where} is outside)`, { details: { path: shown } });
    const changed = () => new NotFoundError(`putFile ${shown}: a folder on the way changed while writing; nothing was written`, { details: { path: shown } });
    let dir = this.openDir(root, snap, refusedAt, changed);
    try {
      let at = root;
      for (const seg of segs) {
        at = path.join(at, seg);
        const next = HAS_PROC_FD ? inFd(dir.fd, seg) : at;
        try {
          fs.mkdirSync(next);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        }
        const opened = this.openDir(next, snap, refusedAt, changed);
        fs.closeSync(dir.fd);
        dir = opened;
      }
      const tmpName = path.basename(tempNameFor(real));
      const tmp = HAS_PROC_FD ? inFd(dir.fd, tmpName) : path.join(dir.real, tmpName);
      const dest = HAS_PROC_FD ? inFd(dir.fd, name) : path.join(dir.real, name);
      try {
        // 'wx': O_CREAT|O_EXCL, never follows a link planted under the temp name.
        if (bytes instanceof Uint8Array) {
          await fs.promises.writeFile(tmp, bytes, { flag: 'wx' });
        } else {
          // A stream: each chunk written as it arrives (the sender waits for credit meanwhile:
          // memory stays at the stream's window), renamed only once the stream ended whole.
          const fh = await fs.promises.open(tmp, 'wx');
          try {
            await writeChunks(fh, bytes);
          } finally {
            await fh.close();
          }
        }
        if (!stillAllowed(dir, snap)) throw refusedAt(path.dirname(real));
        await fs.promises.rename(tmp, dest);
      } catch (err) {
        await fs.promises.rm(tmp, { force: true }).catch(() => undefined);
        throw err;
      }
    } finally {
      fs.closeSync(dir.fd);
    }
  }

  openDir(p: string, snap: PolicySnapshot, refusedAt: (where: string) => Error, changed: () => Error): VerifiedDir {
    const d = openDirVerified(p, snap);
    if (d === null) throw changed();
    if ('refused' in d) throw refusedAt(d.refused);
    return d;
  }

  async listFilesNow(filepattern: string): Promise<string[]> {
    this.ensureOpen();
    const { rest } = this.splitChecked(filepattern);
    this.policy.checkPatternType(rest[rest.length - 1]);
    return glob(filepattern, { want: 'files', allowReal: (r) => this.policy.isRealPathAllowed(r) })
      .filter((e) => this.policy.isTypeAllowed(e.path))
      .map((e) => e.path);
  }

  async listDirsNow(dirpattern: string): Promise<string[]> {
    this.ensureOpen();
    this.splitChecked(dirpattern);
    return glob(dirpattern, { want: 'dirs', allowReal: (r) => this.policy.isRealPathAllowed(r) }).map((e) => e.path);
  }

  splitChecked(pattern: string): { base: string; rest: string[] } {
    this.policy.canonicalise(pattern); // absolute, no NUL
    const split = splitGlob(pattern);
    this.policy.checkDir(split.base);
    return split;
  }
}
