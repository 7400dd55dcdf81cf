// Test harness: the same DataInterface API in both modes, over real sockets for the remote one
// (relay on loopback WebSocket, runtime dialing out to it, SDK client through the relay).
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startRuntimeServer, type RuntimeServer } from '@rtfmri/runtime';
import { syntheticEpiVolume, type SyntheticEpiOptions } from '@rtfmri/dicom-wasm/synthetic';
import { DataInterface, hostRelay, mintClientToken, type HostedRelay } from '../src/index.js';
import * as browser from '../src/browser/index.js';

export type Mode = 'local' | 'remote';
export const TOKEN = 'test-token-7f3a';
/** What an experiment holds: a client token minted from the site secret, never the secret. */
export const CLIENT_TOKEN = mintClientToken(TOKEN);

export interface Setup {
  mode: Mode;
  di: DataInterface;
  relay?: HostedRelay;
  runtime?: RuntimeServer;
  relayLog: string[];
  close(): Promise<void>;
}

export async function setup(mode: Mode, opts: { allowedDirs: string[]; allowedFileTypes: string[]; scannerClockSkew?: number; name?: string }): Promise<Setup> {
  const relayLog: string[] = [];
  if (mode === 'local') {
    const di = new DataInterface({ dataRemote: false, ...opts });
    return { mode, di, relayLog, close: () => di.close() };
  }
  const name = opts.name ?? 'scanner1';
  const relay = await hostRelay({ token: TOKEN, log: (l) => relayLog.push(l) });
  const runtime = await startRuntimeServer({ connect: relay.url, name, token: TOKEN, allowedDirs: opts.allowedDirs, allowedFileTypes: opts.allowedFileTypes, scannerClockSkew: opts.scannerClockSkew });
  await runtime.service.whenConnected();
  const di = new DataInterface({ dataRemote: true, url: relay.url, token: CLIENT_TOKEN, name });
  await di.waitForRuntime(10);
  return {
    mode,
    di,
    relay,
    runtime,
    relayLog,
    async close() {
      await di.close();
      await runtime.close();
      await relay.close();
    },
  };
}

export function tmpDir(prefix = 'rtfmri-sdk-'): string {
  return fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), prefix)));
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Small synthetic EPI volumes (fast to write and parse), InstanceNumber = index + 1. */
export const SMALL: SyntheticEpiOptions = { tile: 16, slices: 4, seriesHeaderBytes: 2000, volumes: 20 };

export function volume(i: number, opts: SyntheticEpiOptions = SMALL): Uint8Array {
  return syntheticEpiVolume(i, opts);
}

export function writeVolume(dir: string, i: number, pattern = (n: number) => `vol_${String(n).padStart(3, '0')}.dcm`): string {
  const p = path.join(dir, pattern(i));
  fs.writeFileSync(p, volume(i));
  return p;
}

/** ../shared/data/rtcloud-sample from the repository root, or null when absent. */
export function sampleDir(): string | null {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const p = path.resolve(here, '../../../../shared/data/rtcloud-sample');
  return fs.existsSync(path.join(p, '001_000013_000001.dcm')) ? p : null;
}

/** packages/cli/bin/rtfmri.js (needs the runtime's dist: `npx turbo run build`). */
export function cliPath(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  return path.resolve(here, '../../cli/bin/rtfmri.js');
}

/** The error a promise rejects with (fails the test when it resolves). */
export async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

/**
 * The browser SDK run in Node: the page's DataInterface with its WorkerApi on the same thread
 * (`worker: false`), over a WebSocket (the `ws` package standing in for the browser's) to a real
 * relay and runtime serving `dir`. `close()` undoes all of it, the global WebSocket included.
 */
export async function browserInNode(dir: string, allowedFileTypes: string[]): Promise<{ di: browser.DataInterface; close(): Promise<void> }> {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const ws = createRequire(path.resolve(here, '../../transport/package.json'))('ws') as { WebSocket: unknown };
  const g = globalThis as { WebSocket?: unknown };
  const had = g.WebSocket;
  g.WebSocket = ws.WebSocket;
  const relay = await hostRelay({ token: TOKEN });
  const runtime = await startRuntimeServer({ connect: relay.url, name: 'scanner1', token: TOKEN, allowedDirs: [dir], allowedFileTypes });
  await runtime.service.whenConnected();
  const di = new browser.DataInterface({ dataRemote: true, url: relay.url, token: CLIENT_TOKEN, name: 'scanner1', transport: 'websocket', worker: false });
  await di.waitForRuntime(10);
  return {
    di,
    async close() {
      await di.close();
      await runtime.close();
      await relay.close();
      g.WebSocket = had;
    },
  };
}
