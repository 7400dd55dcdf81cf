import { afterAll, beforeAll, describe, it } from 'vitest';
import * as T from '../src/node.js';
import type { Link } from '../src/link.js';
import { cases } from './contract-cases.js';

describe('contract over WebSocket (ws://, two sockets on loopback)', () => {
  let server: T.WsServer;
  const accepted: Array<(l: Link) => void> = [];
  const queue: Link[] = [];
  beforeAll(async () => {
    server = await T.createWsServer({
      onLink: (l) => {
        const w = accepted.shift();
        if (w) w(l);
        else queue.push(l);
      },
    });
  });
  afterAll(() => server.close());
  const pair = async (): Promise<[Link, Link]> => {
    const serverSide = queue.length ? Promise.resolve(queue.shift()!) : new Promise<Link>((r) => accepted.push(r));
    const c = await T.connectWs(server.url);
    return [c, await serverSide];
  };
  const env = { T, bigBytes: 101 * 1024 * 1024, pair };
  for (const c of cases) it(c.name, () => c.run(env), 60_000);
});
