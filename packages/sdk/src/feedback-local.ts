// Node only: the feedback channel of a local DataInterface (dataRemote: false) is the hub of that
// runtime DataInterface in this process (the same one `startRuntimeServer({ dataInterface })` serves
// to pages, so a one-machine setup has one hub). Loaded by the Node entry; never bundled for browsers.
import type { FeedbackMethod } from '@rtfmri/relay/protocol';
import { setLocalFeedbackCarrier } from './feedback.js';

setLocalFeedbackCarrier(async (impl) => {
  const rt = await import('@rtfmri/runtime');
  const facade = rt.feedbackHubOf(impl).facade('local');
  return {
    callFeedback: (method: FeedbackMethod, args: unknown[]) => facade[method](...args),
  };
});
