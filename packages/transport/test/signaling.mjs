// Signaling carriers for tests and the benchmark (the product carries signaling in the relay's
// SIGNAL frames). Plain JS so child processes run it with plain `node`; types in signaling.d.mts.

const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * Signaling as JSON text in binary frames over a Link of its own (e.g. a WebSocket dedicated to
 * signaling). Frames that are not JSON objects are ignored.
 */
export function linkSignaler(link) {
  return {
    send(msg) {
      link.send(enc.encode(JSON.stringify(msg)));
    },
    onSignal(handler) {
      return link.onMessage((data) => {
        let msg;
        try {
          msg = JSON.parse(dec.decode(data));
        } catch {
          return;
        }
        if (msg && typeof msg === 'object') handler(msg);
      });
    },
  };
}

/** Two in-process signalers wired to each other (messages copied, delivered on a later turn). */
export function createLocalSignalerPair() {
  const handlers = [[], []];
  const make = (me) => ({
    send(msg) {
      const copy = JSON.parse(JSON.stringify(msg));
      // A snapshot: a handler may unsubscribe itself (or another) or subscribe a new one while
      // the message is delivered; splicing the live list mid-iteration would skip a handler.
      setTimeout(() => {
        for (const h of [...handlers[1 - me]]) h(copy);
      }, 0);
    },
    onSignal(h) {
      handlers[me].push(h);
      return () => {
        const i = handlers[me].indexOf(h);
        if (i >= 0) handlers[me].splice(i, 1);
      };
    },
  });
  return [make(0), make(1)];
}
