// rt-cloud's six upload/download helpers, named from the cloud's point of view: "upload" copies
// from the control room (the DataInterface) to this machine, "download" from this machine to it.
// They take anything with the DataInterface's file methods: the local one or the SDK's remote stub.
import fs from 'node:fs';
import path from 'node:path';
import { ValidationError } from '@rtfmri/transport';
import { glob, isWithin } from '@rtfmri/files';
import type { DataInterfaceApi } from './data-interface.js';
import { readLocalFile, writeLocalFile } from './local-files.js';

/** A file as chunks and its size: what getFileStream answers (the SDK's FileStream, the runtime's). */
export interface SizedChunks extends AsyncIterable<Uint8Array> {
  readonly size: number;
}

/** putFile as the helpers call it: bytes, or (files above a chunk) a stream of bytes. */
type PutFileLoose = (filename: string, data: Uint8Array | AsyncIterable<Uint8Array>) => Promise<void>;

/**
 * The file methods the helpers use: a local or remote DataInterface both have them. With
 * getFileStream (both DataInterfaces have it) files are copied chunk by chunk as they arrive;
 * without it, through getFile.
 */
export type FileAccess = Pick<DataInterfaceApi, 'getFile' | 'listFiles' | 'getAllowedFileTypes'> & {
  putFile: PutFileLoose | DataInterfaceApi['putFile'];
  getFileStream?: (filename: string) => Promise<SizedChunks>;
};

/** Files up to this size are sent by putFile as bytes; larger ones as a stream read from disk. */
const PUT_BYTES_MAX = 1 << 20;

export interface TransferProgress {
  /** Files copied so far (including this one). */
  done: number;
  total: number;
  /** Source path of the file just copied. */
  file: string;
  /** Destination path. */
  dest: string;
  bytes: number;
}
export type ProgressCallback = (p: TransferProgress) => void;

/** rt-cloud's mapping: outputDir / (fileDir minus srcDirPrefix) / filename, normalised. */
function destFor(file: string, outputDir: string, srcDirPrefix?: string | null): string {
  const fileDir = path.posix.dirname(file);
  const filename = path.posix.basename(file);
  let subDir = '';
  if (srcDirPrefix != null && srcDirPrefix !== '' && isUnder(fileDir, srcDirPrefix)) {
    subDir = fileDir.slice(stripSep(srcDirPrefix).length);
  }
  const out = path.normalize(outputDir + '/' + subDir + '/' + filename);
  // A listing from a remote runtime must not steer writes outside outputDir.
  const root = path.resolve(outputDir);
  const abs = path.resolve(out);
  if (!isWithin(abs, root)) {
    throw new ValidationError(`refusing to write ${abs}: outside ${root}`);
  }
  return out;
}

function stripSep(p: string): string {
  return p.length > 1 && p.endsWith('/') ? p.replace(/\/+$/, '') : p;
}

// Separator-aware: prefix `/a/b` covers `/a/b` and `/a/b/c`, not `/a/bc` (rt-cloud's startswith did).
function isUnder(dir: string, prefix: string): boolean {
  const p = stripSep(prefix);
  return dir === p || dir.startsWith(p === '/' ? '/' : p + '/');
}


function isDirectoryError(err: unknown): boolean {
  const e = err as { message?: string; details?: { reason?: string }; code?: string };
  return e?.details?.reason === 'EISDIR' || e?.code === 'EISDIR' || /is a directory|IsADirectoryError/.test(String(e?.message));
}

/**
 * Copies files listed on the control room to outputDir here. Returns the local paths written.
 * Each file is written as its chunks arrive (getFileStream) to a hidden temp file renamed into place:
 * memory stays at the transfer's window whatever the size, and a failure (the file changed on the
 * runtime, the disk here filled up, the link dropped) leaves nothing under the final name.
 */
export async function uploadFilesFromList(
  di: Pick<FileAccess, 'getFile' | 'getFileStream'>, fileList: string[], outputDir: string, srcDirPrefix?: string | null, onProgress?: ProgressCallback,
): Promise<string[]> {
  const written: string[] = [];
  let done = 0;
  for (const file of fileList) {
    const dest = destFor(file, outputDir, srcDirPrefix);
    let data: SizedChunks | Uint8Array;
    try {
      data = di.getFileStream ? await di.getFileStream(file) : await di.getFile(file);
    } catch (err) {
      if (isDirectoryError(err)) { done++; continue; }
      throw err;
    }
    const bytes = data instanceof Uint8Array ? await writeLocalFile(dest, [data]) : await writeLocalFile(dest, data, data.size);
    written.push(dest);
    onProgress?.({ done: ++done, total: fileList.length, file, dest, bytes });
  }
  return written;
}

/** Copies local files to outputDir on the control room. Returns the local files that were copied. */
export async function downloadFilesFromList(
  di: Pick<FileAccess, 'putFile'>, fileList: string[], outputDir: string, srcDirPrefix?: string | null, onProgress?: ProgressCallback,
): Promise<string[]> {
  const copied: string[] = [];
  let done = 0;
  for (const file of fileList) {
    let st: fs.Stats;
    try { st = fs.statSync(file); } catch { done++; continue; }
    if (st.isDirectory()) { done++; continue; }
    const dest = path.posix.normalize(outputDir + '/' + subDirOf(file, srcDirPrefix) + '/' + path.basename(file));
    // Small files as bytes (one message); larger ones read from disk chunk by chunk as the link
    // takes them (the runtime writes each chunk as it arrives), so neither side holds the file.
    const put = di.putFile as PutFileLoose;
    if (st.size <= PUT_BYTES_MAX) await put.call(di, dest, fs.readFileSync(file));
    else await put.call(di, dest, readLocalFile(file));
    copied.push(file);
    onProgress?.({ done: ++done, total: fileList.length, file, dest, bytes: st.size });
  }
  return copied;
}

function subDirOf(file: string, srcDirPrefix?: string | null): string {
  const fileDir = path.dirname(file);
  if (srcDirPrefix != null && srcDirPrefix !== '' && isUnder(fileDir, srcDirPrefix)) {
    return fileDir.slice(stripSep(srcDirPrefix).length);
  }
  return '';
}

/** Copies a control-room folder here; the folder's last path component is kept under outputDir. */
export async function uploadFolderToCloud(
  di: Pick<FileAccess, 'getFile' | 'getFileStream' | 'listFiles'>, srcDir: string, outputDir: string, onProgress?: ProgressCallback,
): Promise<string[]> {
  const src = stripSep(srcDir);
  const fileList = await di.listFiles(path.posix.join(src, '**'));
  return uploadFilesFromList(di, fileList, outputDir, path.posix.dirname(src), onProgress);
}

/** Copies control-room files matching a glob here, flattened into outputDir. */
export async function uploadFilesToCloud(
  di: Pick<FileAccess, 'getFile' | 'getFileStream' | 'listFiles'>, srcFilePattern: string, outputDir: string, onProgress?: ProgressCallback,
): Promise<string[]> {
  const fileList = await di.listFiles(srcFilePattern);
  return uploadFilesFromList(di, fileList, outputDir, null, onProgress);
}

function allowedLocal(types: string[], file: string): boolean {
  if (types.includes('*')) return true;
  const ext = path.extname(file).toLowerCase();
  return ext !== '' && types.some((t) => (t.startsWith('.') ? t : '.' + t).toLowerCase() === ext);
}

/** Copies a local folder to the control room (last path component kept); deleteAfter removes only the copied files. */
export async function downloadFolderFromCloud(
  di: Pick<FileAccess, 'putFile' | 'getAllowedFileTypes'>, srcDir: string, outputDir: string, deleteAfter = false, onProgress?: ProgressCallback,
): Promise<string[]> {
  const types = await di.getAllowedFileTypes();
  const src = stripSep(path.resolve(srcDir));
  const fileList = glob(path.join(src, '**'), { want: 'files' }).map((e) => e.path).filter((f) => allowedLocal(types, f));
  const copied = await downloadFilesFromList(di, fileList, outputDir, path.dirname(src), onProgress);
  if (deleteAfter) for (const f of copied) fs.rmSync(f, { force: true });
  return copied;
}

/** Copies local files matching a glob to the control room, flattened; deleteAfter removes only the copied files. */
export async function downloadFilesFromCloud(
  di: Pick<FileAccess, 'putFile'>, srcFilePattern: string, outputDir: string, deleteAfter = false, onProgress?: ProgressCallback,
): Promise<string[]> {
  const fileList = glob(path.resolve(srcFilePattern), { want: 'files' }).map((e) => e.path);
  const copied = await downloadFilesFromList(di, fileList, outputDir, null, onProgress);
  if (deleteAfter) for (const f of copied) fs.rmSync(f, { force: true });
  return copied;
}
