// The feedback hub's queue rules (serve/feedback.ts): a wait whose session ended takes nothing.
import { describe, expect, it } from 'vitest';
import { DisconnectedError, TimeoutError } from '@rtfmri/transport';
import { FeedbackHub } from '../src/serve/feedback.js';

describe('feedback hub', () => {
  it("a page's wait whose session died takes nothing: the result goes to its next call", async () => {
    const hub = new FeedbackHub();
    let close!: () => void;
    const closed = new Promise<void>((r) => (close = r));
    const old = hub.facade('page', closed);
    const oldWait = old.dequeueResult(true, 5).then(() => 'took it', (e: Error) => e);
    await new Promise((r) => setTimeout(r, 20));
    close();
    expect(await oldWait).toBeInstanceOf(DisconnectedError);
    hub.setResult(1, 0, 0.5);
    const fresh = hub.facade('page');
    expect(await fresh.dequeueResult(true, 1)).toMatchObject({ runId: 1, trId: 0, value: 0.5 });
    expect(await fresh.dequeueResult().catch((e: Error) => e)).toBeInstanceOf(TimeoutError);
  });

  it('each page (client id) gets every result; one set before any page asked waits for the first', async () => {
    const hub = new FeedbackHub();
    hub.setResult(1, 0, 1);
    const a = hub.facade('a');
    expect(await a.dequeueResult()).toMatchObject({ trId: 0 });
    const b = hub.facade('b');
    await b.dequeueResult().catch(() => undefined);
    hub.setResult(1, 1, 2);
    expect(await a.dequeueResult()).toMatchObject({ trId: 1 });
    expect(await b.dequeueResult()).toMatchObject({ trId: 1 });
  });
});
