// What the CLI tests share: a captured Io, and waiting for a condition.
import type { Io } from '@rtfmri/relay/cli';

export function capture(signal = new AbortController().signal): Io & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (l) => stdout.push(l), err: (l) => stderr.push(l), errWrite: (c) => stderr.push(c), errIsTTY: false, signal };
}

export async function until(pred: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
