// How `rtfmri demo --browser` decides whether to offer WebRTC on this machine, and the reason it
// gives when it cannot (the Chromium tests in browser.test.ts run the demo itself, with and
// without a network interface).
import { describe, expect, it } from 'vitest';
// @ts-expect-error plain .mjs script
import { scannerClock, webrtcPlan } from '../scripts/demo.mjs';

const lo = { lo: [{ family: 'IPv4', address: '127.0.0.1', internal: true }, { family: 'IPv6', address: '::1', internal: true }] };
const ok = () => undefined;

describe('demo --browser: the WebRTC plan', () => {
  it("offers the first non-loopback IPv4 address, not an IPv6 one nor loopback", () => {
    const interfaces = { ...lo, eth0: [{ family: 'IPv6', address: 'fe80::1', internal: false }, { family: 'IPv4', address: '192.168.3.7', internal: false }], wlan0: [{ family: 'IPv4', address: '10.0.0.9', internal: false }] };
    expect(webrtcPlan({ env: {}, interfaces, load: ok })).toEqual({ address: '192.168.3.7', source: 'network interface eth0' });
  });

  it('says why when there is only loopback', () => {
    const p = webrtcPlan({ env: {}, interfaces: lo, load: ok });
    expect(p.address).toBeUndefined();
    expect(p.why).toMatch(/no network interface besides loopback/);
  });

  it('says why when node-datachannel cannot be loaded, even with an interface or RTFMRI_WEBRTC_BIND', () => {
    const load = () => {
      throw new Error("Cannot find module 'node-datachannel'\nRequire stack: ...");
    };
    const p = webrtcPlan({ env: { RTFMRI_WEBRTC_BIND: '10.1.1.1' }, interfaces: { eth0: [{ family: 'IPv4', address: '10.1.1.1', internal: false }] }, load });
    expect(p).toEqual({ why: "the runtime's WebRTC library (node-datachannel) cannot be loaded here (Cannot find module 'node-datachannel')" });
  });

  it('RTFMRI_WEBRTC_BIND overrides the interface', () => {
    expect(webrtcPlan({ env: { RTFMRI_WEBRTC_BIND: '10.9.9.9' }, interfaces: lo, load: ok })).toEqual({ address: '10.9.9.9', source: 'RTFMRI_WEBRTC_BIND' });
  });

  it('node-datachannel loads in this checkout (the real loader)', () => {
    expect(webrtcPlan({ env: {}, interfaces: lo }).why).toMatch(/loopback/);
  });

  it('stamps acquisition times as DICOM DA/TM in local time', () => {
    const { date, startTime } = scannerClock(0);
    expect(date).toMatch(/^\d{8}$/);
    expect(startTime).toMatch(/^\d{6}\.\d{6}$/);
    const d = new Date();
    expect(Number(startTime.slice(0, 2))).toBeGreaterThanOrEqual(0);
    expect(date.slice(0, 4)).toBe(String(d.getFullYear()));
  });
});
