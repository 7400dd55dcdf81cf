import { describe, it } from 'vitest';
import * as T from '../src/node.js';
import { cases } from './contract-cases.js';

describe('contract over the local link', () => {
  const env = { T, bigBytes: 101 * 1024 * 1024, pair: async () => T.createLocalLinkPair() };
  for (const c of cases) it(c.name, () => c.run(env), 60_000);
});
