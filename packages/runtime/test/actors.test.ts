// The stream/watch state machine (src/actors.ts) on its own: looks driven by hand, events sent by hand.
import { describe, expect, it } from 'vitest';
import { FileWaiter, type Validated } from '../src/actors.js';
import { NotFoundError } from '../src/errors.js';

type Look = Validated<string> | Promise<Validated<string>>;

/** A waiter whose looks return what `next` gives, and whose file events the test fires. */
function harness(next: (n: number) => Look, opts: { demoStep?: number; pollIntervalMs?: number } = {}) {
  let n = 0;
  const listeners = new Map<string, Set<() => void>>();
  const waiter = new FileWaiter<string>(
    { dir: '/scan', minFileSize: 0, dicom: false, anonymize: false, demoStep: opts.demoStep ?? 0 },
    { pollIntervalMs: opts.pollIntervalMs ?? 60_000, validate: () => next(n++) },
    (name, fn) => {
      let set = listeners.get(name);
      if (!set) listeners.set(name, (set = new Set()));
      set.add(fn);
      return () => set!.delete(fn);
    },
  );
  const fire = (name: string) => { for (const fn of [...(listeners.get(name) ?? [])]) fn(); };
  const subscribers = (name: string) => listeners.get(name)?.size ?? 0;
  const looks = () => n;
  return { waiter, fire, subscribers, looks };
}

const timedOut = (name: string, last: unknown) => new NotFoundError(`timeout ${name} ${JSON.stringify(last)}`);
const tick = () => new Promise<void>((r) => setImmediate(r));

describe('FileWaiter state machine', () => {
  it('walks missing -> small -> incomplete -> ok on file events, one look per event, and unsubscribes', async () => {
    const seq: Validated<string>[] = [
      { status: 'missing' },
      { status: 'small', size: 0 },
      { status: 'incomplete', size: 10, mtimeMs: 1 },
      { status: 'ok', value: 'v' },
    ];
    const h = harness((n) => seq[n]!);
    try {
      const p = h.waiter.request('a.dcm', 5, timedOut);
      await tick();
      expect(h.waiter.state).toBe('waitingForFile');
      expect(h.subscribers('a.dcm')).toBe(1);
      h.fire('b.dcm'); // another name: no look
      expect(h.looks()).toBe(1);
      h.fire('a.dcm');
      expect(h.waiter.state).toBe('waitingForMinFileSize');
      h.fire('a.dcm');
      expect(h.waiter.state).toBe('waitingForComplete');
      h.fire('a.dcm');
      expect(h.waiter.state).toBe('ready');
      expect(await p).toBe('v');
      expect(h.looks()).toBe(4);
      expect(h.subscribers('a.dcm')).toBe(0);
    } finally {
      h.waiter.close();
    }
  });

  it('an event during a pool look marks it dirty: looked at again at once; a stale result is ignored', async () => {
    const pending: ((v: Validated<string>) => void)[] = [];
    const h = harness(() => new Promise<Validated<string>>((r) => pending.push(r)));
    try {
      const p = h.waiter.request('a.dcm', 5, timedOut);
      await tick();
      expect(h.waiter.state).toBe('validating');
      h.fire('a.dcm'); // while the first look runs
      pending[0]!({ status: 'incomplete', size: 5, mtimeMs: 1 });
      await tick();
      // dirty: a second look instead of waiting
      expect(h.looks()).toBe(2);
      expect(h.waiter.state).toBe('validating');
      pending[1]!({ status: 'ok', value: 'second' });
      expect(await p).toBe('second');
      // the next request; a late result of an earlier look does not settle it
      const q = h.waiter.request('b.dcm', 5, timedOut);
      await tick();
      pending[1]!({ status: 'ok', value: 'stale' });
      await tick();
      expect(h.waiter.state).toBe('validating');
      pending[2]!({ status: 'ok', value: 'b' });
      expect(await q).toBe('b');
    } finally {
      h.waiter.close();
    }
  });

  it('times out with the last look; the deadline does not cut a delivery being paced', async () => {
    const h = harness(() => ({ status: 'small', size: 3 }));
    try {
      const e = await h.waiter.request('a.dcm', 0.05, timedOut).catch((x: Error) => x);
      expect((e as Error).message).toBe('timeout a.dcm {"status":"small","size":3}');
      expect(h.waiter.state).toBe('timedOut');
      expect(h.subscribers('a.dcm')).toBe(0);
    } finally {
      h.waiter.close();
    }
    const paced = harness(() => ({ status: 'ok', value: 'x' }), { demoStep: 0.1 });
    try {
      expect(await paced.waiter.request('a.dcm', 5, timedOut)).toBe('x');
      // the second delivery waits for demoStep, longer than its own timeout: still delivered
      const p = paced.waiter.request('b.dcm', 0.02, timedOut);
      await tick();
      expect(paced.waiter.state).toBe('pacing');
      expect(await p).toBe('x');
    } finally {
      paced.waiter.close();
    }
  });

  it('the safety poll looks again without an event', async () => {
    const h = harness((n) => (n < 2 ? { status: 'missing' } : { status: 'ok', value: 'polled' }), { pollIntervalMs: 5 });
    try {
      expect(await h.waiter.request('a.dcm', 5, timedOut)).toBe('polled');
      expect(h.looks()).toBe(3);
    } finally {
      h.waiter.close();
    }
  });

  it('a look that throws fails the request; the next one runs', async () => {
    const h = harness((n) => {
      if (n === 0) throw new Error('EIO');
      return { status: 'ok', value: 'after' };
    });
    try {
      await expect(h.waiter.request('a.dcm', 5, timedOut)).rejects.toThrow('EIO');
      expect(h.waiter.state).toBe('failed');
      expect(await h.waiter.request('a.dcm', 5, timedOut)).toBe('after');
    } finally {
      h.waiter.close();
    }
  });

  it('an abort rejects the running request and the next one runs; close rejects a pending one', async () => {
    const h = harness((n) => (n === 1 ? { status: 'ok', value: 'next' } : { status: 'missing' }));
    const ac = new AbortController();
    const aborted = h.waiter.request('a.dcm', 5, timedOut, undefined, ac.signal);
    await tick();
    expect(h.waiter.state).toBe('waitingForFile');
    ac.abort(new Error('gone'));
    await expect(aborted).rejects.toThrow('gone');
    expect(h.waiter.state).toBe('aborted');
    expect(h.subscribers('a.dcm')).toBe(0);
    expect(await h.waiter.request('b.dcm', 5, timedOut)).toBe('next');
    const pending = h.waiter.request('c.dcm', 5, timedOut);
    await tick();
    expect(h.waiter.state).toBe('waitingForFile');
    h.waiter.close();
    await expect(pending).rejects.toThrow('StreamID mismatch');
    expect(h.waiter.state).toBe('closed');
    h.fire('c.dcm');
    expect(h.looks()).toBe(3);
    await expect(h.waiter.request('d.dcm', 5, timedOut)).rejects.toThrow('StreamID mismatch');
  });
});
