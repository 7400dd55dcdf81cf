// Fuzzed frames: thousands of random and mutated frames after a valid session prefix. The only allowed
// outcomes are "answered normally" or "ProtocolError, that link closed"; the process and other
// links carry on.
import { describe, expect, it } from 'vitest';
import * as T from '../src/node.js';
import type { Link } from '../src/link.js';
import { makeFuzzer } from './fuzz-lib.js';

const { impl, METHODS, buildCorpus, rng, fuzzRound, stuck: stuckCount } = makeFuzzer(T);

describe('fuzzed frames', () => {
  it('local links: 3000 mutated/random frames give only ProtocolError + that link closed; a healthy link keeps working', async () => {
    const corpus = await buildCorpus();
    expect(corpus.length).toBeGreaterThan(10);
    const [hc, hs] = T.createLocalLinkPair();
    T.expose(hs, impl, METHODS);
    const healthy = T.connect<typeof impl>(hc);
    const errors: Error[] = [];
    const r = rng(12345);
    let closed = 0;
    for (let i = 0; i < 3000; i++) {
      if ((await fuzzRound(async () => T.createLocalLinkPair(), corpus, r, errors, 64 * 1024)) === 'closed') closed++;
      if (i % 500 === 0) expect(await healthy.echo(i)).toEqual([i]);
    }
    for (const e of errors) {
      expect(e.name).toBe('ProtocolError');
      // internal exceptions (TypeError, RangeError...) would be wrapped with this prefix
      expect(e.message).not.toMatch(/^bad frame:/);
    }
    console.log(`fuzz (local): 3000 rounds, ${closed} links closed with ProtocolError, ${stuckCount()} unanswered pings`);
    expect(closed).toBeGreaterThan(1000);
    expect(errors.length).toBeGreaterThanOrEqual(closed - 50);
    expect(await healthy.echo('still here')).toEqual(['still here']);
  }, 120_000);

  it('WebSocket server: 300 fuzzed connections, other clients keep being served', async () => {
    const corpus = await buildCorpus();
    const pending: Array<(l: Link) => void> = [];
    const errors: Error[] = [];
    const server = await T.createWsServer({
      maxPayload: 128 * 1024,
      onLink: (l) => {
        const w = pending.shift();
        if (w) w(l);
        else T.expose(l, impl, METHODS);
      },
    });
    const healthyLink = await T.connectWs(server.url);
    const healthy = T.connect<typeof impl>(healthyLink);
    expect(await healthy.echo(0)).toEqual([0]);
    const pair = async (): Promise<[Link, Link]> => {
      const s = new Promise<Link>((res) => pending.push(res));
      const c = await T.connectWs(server.url, { maxPayload: 128 * 1024 });
      return [c, await s];
    };
    const r = rng(777);
    for (let i = 0; i < 300; i++) {
      await fuzzRound(pair, corpus, r, errors, 64 * 1024);
      if (i % 50 === 0) expect(await healthy.echo(i)).toEqual([i]);
    }
    for (const e of errors) {
      expect(e.name).toBe('ProtocolError');
      expect(e.message).not.toMatch(/^bad frame:/);
    }
    expect(await healthy.echo('end')).toEqual(['end']);
    healthyLink.close();
    await server.close();
  }, 120_000);
});
