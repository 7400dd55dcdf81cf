// RPC frames whose first byte looks like a relay control frame (>= 0x80: about half the chunks of a
// binary file) cross the relay as they are, announced by RAW, in both directions: the same bytes
// (over in-process links, the same memory: no copy on any hop), in order with the other frames.
import { describe, expect, it } from 'vitest';
import { createLocalLinkPair, type Link } from '@rtfmri/transport';
import { CONTROL_MIN, F, mintClientToken, Relay, RelayClient, RelayRuntimeConnection, sharedToken, type SessionLink } from '../src/index.js';

const SECRET = 'raw-frames-secret';

/** Records what one end sends (the messages themselves, not copies). */
function recording(link: Link): { link: Link; sent: Uint8Array[] } {
  const sent: Uint8Array[] = [];
  const send = link.send.bind(link);
  link.send = (d) => {
    if (d instanceof Uint8Array) sent.push(d);
    else sent.push(...d);
    send(d);
  };
  return { link, sent };
}

async function setup() {
  const relay = new Relay({ tokens: sharedToken(SECRET) });
  const [rtRelaySide, rtSide] = createLocalLinkPair();
  const [clRelaySide, clSide] = createLocalLinkPair();
  relay.accept(rtRelaySide, 'runtime');
  const rtRec = recording(rtSide);
  const sessions: SessionLink[] = [];
  const runtime = await RelayRuntimeConnection.register(rtRec.link, { name: 'scanner1', token: SECRET, onSession: (s) => sessions.push(s) });
  relay.accept(clRelaySide, 'client');
  const clRec = recording(clSide);
  const client = await RelayClient.attach(clRec.link, { target: 'scanner1', token: mintClientToken(SECRET) });
  for (let i = 0; i < 100 && (!sessions.length || !client.session); i++) await new Promise((r) => setTimeout(r, 5));
  return { relay, runtime, client, rtSession: sessions[0]!, clSession: client.session!, rtSent: rtRec.sent, clSent: clRec.sent };
}

function collect(s: SessionLink): Uint8Array[] {
  const got: Uint8Array[] = [];
  s.onMessage((m) => got.push(m));
  return got;
}

const tick = () => new Promise((r) => setTimeout(r, 10));

describe('RAW: RPC frames that look like control frames', () => {
  it('runtime -> client: announced by RAW, the payload itself follows (no escape, no copy), order kept', async () => {
    const { rtSession, clSession, rtSent, relay, runtime, client } = await setup();
    const got = collect(clSession);
    const frames = [0x00, 0xd0, 0xb0, 0xc0, 0x81, 0x14, 0xff, 0xd1].map((first, i) => {
      const f = new Uint8Array(1000 + i).fill(i);
      f[0] = first;
      return f;
    });
    const before = rtSent.length;
    for (const f of frames) rtSession.send(f);
    await tick();
    expect(got.length).toBe(frames.length);
    got.forEach((g, i) => expect(g, `frame ${i}`).toBe(frames[i])); // the same memory, end to end
    // on the runtime's link: each high frame right after its RAW [0xD1][sid], never DATA (0xD0)
    const out = rtSent.slice(before);
    for (const f of frames.filter((x) => x[0]! >= CONTROL_MIN)) {
      const at = out.indexOf(f);
      expect(at).toBeGreaterThan(0);
      expect(out[at - 1]![0]).toBe(F.Raw);
      expect(out[at - 1]!.length).toBe(5);
    }
    expect(out.some((m) => m[0] === F.Data && !frames.includes(m))).toBe(false);
    client.close();
    runtime.close();
    relay.close();
  });

  it('client -> runtime: the same both ways, through the relay\'s per-session queue toward the runtime', async () => {
    const { rtSession, clSession, clSent, relay, runtime, client } = await setup();
    const got = collect(rtSession);
    // big frames (over the relay's small-frame size) so some wait in its queue for the runtime's socket
    const frames = Array.from({ length: 12 }, (_, i) => {
      const f = new Uint8Array(i % 3 === 0 ? 100 : 200_000).fill(i);
      f[0] = i % 2 ? 0x80 + i : i;
      return f;
    });
    for (const f of frames) clSession.send(f);
    for (let i = 0; i < 100 && got.length < frames.length; i++) await tick();
    expect(got.length).toBe(frames.length);
    got.forEach((g, i) => expect(g, `frame ${i}`).toBe(frames[i]));
    expect(clSent.some((m) => m[0] === F.Data && !frames.includes(m))).toBe(false);
    client.close();
    runtime.close();
    relay.close();
  });

  it('a PING-looking RPC frame after RAW is delivered, not answered as a ping', async () => {
    const { rtSession, clSession, relay, runtime, client } = await setup();
    const got = collect(clSession);
    const ping = new Uint8Array([F.Ping]);
    rtSession.send(ping);
    await tick();
    expect(got).toEqual([ping]);
    client.close();
    runtime.close();
    relay.close();
  });
});
