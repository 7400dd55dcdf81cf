// Real Chromium (Debian's, driven by playwright-core) inside a network namespace with a veth, so
// WebRTC gathers a host candidate that exists only in that namespace. The page streams a replayed
// synthetic EPI run from a runtime process through a relay: over a direct WebRTC data channel,
// over the relay when WebRTC is switched off, and across a killed and restarted runtime.
// Needs the built dist/ of this package and of the workspace packages (turbo run build).
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain .mjs helper (the child process needs no TypeScript)
import { browserTestsUnavailable, spawnInNetns } from './harness/netns.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const N = 8;
const unavailable: string | undefined =
  browserTestsUnavailable() ??
  (existsSync(join(here, '..', 'dist', 'app.js')) && existsSync(join(here, '..', '..', '..', 'packages', 'runtime', 'dist', 'index.js'))
    ? undefined
    : 'dist/ not built (run `npx turbo run build` first)');
if (unavailable) console.warn(`browser tests skipped: ${unavailable}`);

interface Frame { index: number; instanceNumber: number; link: string; roi: number; late: boolean; ageMs?: number; scanToScreenMs?: number }
interface Result {
  scenario: string;
  failed?: string;
  state: string;
  frames: Frame[];
  statuses: Array<{ connected: boolean; link?: string; reason?: string; at?: number }>;
  plotPoints: number;
  canvas: { width: number; height: number; lit: number };
  statusText: string;
  linkText: string;
  whyText: string;
  volumeLabel: string;
  countText: string;
  lateText: string;
  lateBadge: string;
  latePoints: number;
  axisLabels: string[];
  roi: { kind: string; box?: object; voxels?: number; how?: string; name?: string };
  redraws: number;
  recomputes: number;
  screenshot: string;
  errors: string[];
  disconnected?: { text: string; banner: boolean; noticedMs: number; screenshot: string };
  decoded?: Record<string, number>;
  channelsWhileOpen?: number;
  api?: { ping: string; types: string[]; files: number; seek: { instance: number; rows: number; patientName: string }; fileBytes: number; putRefused?: string; refused?: { name: string; typed: string; message: string } };
  channelsAfterClose?: number;
  seen?: Array<{ instance: number; link: string }>;
  before?: number[];
  expected?: number[];
  box?: object;
  boxCanvas?: { width: number; height: number };
  roiError?: string;
  maskVoxels?: number;
  dicomMask?: { roi: { kind: string; name?: string; how?: string; voxels?: number }; values: number[]; error: string };
  lines?: string[];
  webrtc?: { address?: string; why?: string };
  display?: string;
  panel?: { shown: boolean; status: string; points: number; values: number[]; uploads: string; configTitle: string; logLines: number };
}

const results = new Map<string, Result>();

function runHarness(config: object, veth = true): Promise<Result[]> {
  return new Promise((resolve, reject) => {
    const child = spawnInNetns([process.execPath, join(here, 'harness', 'run.mjs'), JSON.stringify(config)], { veth, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.on('error', reject);
    child.on('exit', (code: number) => {
      const lines = out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
      if (!lines.some((l) => l.done)) return reject(new Error(`harness exited ${code} without finishing:\n${out.slice(-2000)}`));
      resolve(lines.filter((l) => l.scenario));
    });
  });
}

function expectWholeRun(r: Result, link: string) {
  expect(r.failed, r.failed).toBeUndefined();
  expect(r.errors).toEqual([]);
  expect(r.state).toBe('done');
  // N volumes, each once, in stream order, and really the scanner's order (InstanceNumber).
  expect(r.frames.map((f) => f.index)).toEqual([...Array(N).keys()]);
  expect(r.frames.map((f) => f.instanceNumber)).toEqual([...Array(N).keys()].map((i) => i + 1));
  expect(r.plotPoints).toBe(N);
  expect(r.frames.every((f) => Number.isFinite(f.roi) && f.roi > 0)).toBe(true);
  // The picture is drawn: a good part of the canvas is lit, and not all of it (the mosaic's background).
  const px = r.canvas.width * r.canvas.height;
  expect(r.canvas.lit).toBeGreaterThan(px * 0.05);
  expect(r.canvas.lit).toBeLessThan(px * 0.95);
  expect(statSync(r.screenshot).size).toBeGreaterThan(1000);
  expect(r.frames.at(-1)!.link).toBe(link);
}

describe.skipIf(!!unavailable)('browser experiment in Chromium', () => {
  beforeAll(async () => {
    for (const r of await runHarness({ scenarios: ['webrtc', 'fallback', 'kill', 'compressed', 'minimal', 'strict', 'roi', 'mask', 'demo'], n: N, tr: 0.25 })) results.set(r.scenario, r);
    // A machine with loopback only (no interface for WebRTC candidates).
    for (const r of await runHarness({ scenarios: ['demo-noiface'], n: N, tr: 0.25 }, false)) results.set(r.scenario, r);
  }, 240_000);

  it('streams N volumes over a direct WebRTC data channel, draws them and plots N points', () => {
    const r = results.get('webrtc')!;
    expectWholeRun(r, 'webrtc');
    expect(r.frames.every((f) => f.link === 'webrtc')).toBe(true);
    expect(r.statuses[0]).toMatchObject({ connected: true, link: 'webrtc' });
    expect(r.linkText).toBe('direct (WebRTC)');
    // The runtime held one channel for this page, and closing the page released it.
    expect(r.channelsWhileOpen).toBe(1);
    expect(r.channelsAfterClose).toBe(0);
    // Volumes are numbered from 1 on the page: the heading shows the last one as N, as the counter does.
    expect(r.volumeLabel).toBe(String(N));
    expect(r.countText).toBe(String(N));
    expect(r.axisLabels).toEqual(['volume (1 = first)', 'ROI mean (scanner units)']);
  });

  it('marks a volume late when it arrives long after its acquisition began (the last one, stamped an hour earlier), and shows acquisition -> on screen', () => {
    const r = results.get('webrtc')!;
    expect(r.frames.map((f) => f.late)).toEqual([...Array(N).keys()].map((i) => i === N - 1));
    expect(r.lateText).toBe('1');
    expect(r.latePoints).toBe(1);
    expect(r.lateBadge).toMatch(/^late: arrived \d+\.\d s after its acquisition began$/);
    // The acquisition time is read from every volume; the late one is an hour old on arrival.
    expect(r.frames.every((f) => Number.isFinite(f.scanToScreenMs))).toBe(true);
    expect(r.frames[N - 1].scanToScreenMs!).toBeGreaterThan(3_500_000);
  });

  it("has the Node SDK's API on the page: seek, files, listing, typed errors", () => {
    const { api } = results.get('webrtc')!;
    expect(api).toMatchObject({ ping: 'number', types: ['.dcm'], files: N, fileBytes: expect.any(Number) });
    // getImageData with an index seeks, and returns a parsed (anonymized) DicomDataset on the page.
    expect(api!.seek).toEqual({ instance: 3, rows: 384, patientName: '' });
    // getFile of a DICOM leaves anonymized (the runtime's PHI policy): the 384x384 int16 pixels and
    // the kept headers, without the private series header.
    expect(api!.fileBytes).toBeGreaterThan(384 * 384 * 2);
    // the experimenter page's token is read-only: putFile is refused with the typed error
    expect(api!.putRefused).toBe('RefusedMethodError');
    // A path outside the allowed folders is refused with the typed class, as in Node.
    expect(api!.refused).toMatchObject({ name: 'ValidationError', typed: 'ValidationError' });
    expect(api!.refused!.message).toMatch(/not within list of allowed directories/);
  });

  it("falls back to the relay's WebSocket when the browser has WebRTC switched off", () => {
    const r = results.get('fallback')!;
    expectWholeRun(r, 'relay/ws');
    expect(r.frames.every((f) => f.link === 'relay/ws')).toBe(true);
    expect(r.channelsWhileOpen).toBe(0);
    expect(r.statuses[0].reason).toMatch(/WebRTC/);
    expect(r.linkText).toBe('via relay (WebSocket)');
    // The reason is on the page in words, not only in a tooltip.
    expect(r.whyText).toMatch(/^Not direct: direct WebRTC channel failed: /);
  });

  it('shows "disconnected" when the runtime is killed, then recovers and loses no volume', () => {
    const r = results.get('kill')!;
    expect(r.disconnected, r.failed).toBeDefined();
    expect(r.disconnected!.banner).toBe(true);
    expect(r.disconnected!.text).toMatch(/Disconnected/);
    expectWholeRun(r, 'webrtc');
    expect(r.statuses.some((s) => !s.connected)).toBe(true);
    expect(r.statuses.at(-1)).toMatchObject({ connected: true });
  });

  it("decodes JPEG-LS compressed volumes with cornerstone's codec in the worker, to the same pixels", () => {
    const r = results.get('compressed')!;
    expectWholeRun(r, 'webrtc');
    expect(r.decoded).toEqual({ '1.2.840.10008.1.2.4.80': N });
    // Lossless: the ROI time course equals the one of the uncompressed run.
    expect(r.frames.map((f) => f.roi)).toEqual(results.get('webrtc')!.frames.map((f) => f.roi));
  });

  it("works from a plain page with the SDK's standalone ESM build (dist/sdk/rtfmri-sdk.js)", () => {
    const r = results.get('minimal')!;
    expect(r.failed, r.failed).toBeUndefined();
    expect(r.errors).toEqual([]);
    expect(r.seen).toEqual([...Array(N).keys()].map((i) => ({ instance: i + 1, link: 'webrtc' })));
    // putFile of a Blob (3 MiB), streamed from the page through the worker, read back whole
    expect(r.upload).toEqual({ bytes: expect.any(Number), same: true });
    expect(r.upload!.bytes).toBeGreaterThan(3 * 1024 * 1024);
  });

  it('a box drawn on the mosaic after the run becomes the ROI: every volume is recomputed; changing the view redraws the last volume', () => {
    const r = results.get('roi')!;
    expect(r.failed, r.failed).toBeUndefined();
    expect(r.errors).toEqual([]);
    expect(r.roi).toEqual({ kind: 'box', box: r.box });
    expect(r.recomputes).toBe(1);
    // The plot's values are the drawn box's means (computed in Node from the same files), not the default box's.
    expect(r.frames.map((f) => f.roi)).toEqual(r.expected);
    expect(r.before).not.toEqual(r.expected);
    // View changed to one slice after the run ended: the last volume is drawn again as a 64x64 slice.
    expect(r.boxCanvas).toMatchObject({ width: 384, height: 384 });
    expect(r.redraws).toBe(1);
    expect(r.canvas).toMatchObject({ width: 64, height: 64 });
    expect(r.state).toBe('done');
    expect(r.axisLabels[1]).toMatch(/% signal change/);
  });

  it('a NIfTI mask (rows stored flipped, placed by its affine) and a DICOM mask (file input) give exactly the synthetic ROI box means', () => {
    const r = results.get('mask')!;
    expect(r.failed, r.failed).toBeUndefined();
    expect(r.roiError).toBe('');
    expect(r.roi).toMatchObject({ kind: 'mask', name: 'roi-flipped.nii.gz', how: 'affine', voxels: r.maskVoxels });
    expect(r.frames.map((f) => f.roi)).toEqual(results.get('webrtc')!.frames.map((f) => f.roi));
    // The same ROI as a DICOM mask (a 0/1 mosaic in the run's grid), chosen with the file input after the run.
    expect(r.dicomMask!.error).toBe('');
    expect(r.dicomMask!.roi).toMatchObject({ kind: 'mask', name: 'roi-mask.dcm', how: 'grid', voxels: r.maskVoxels });
    expect(r.dicomMask!.values).toEqual(results.get('webrtc')!.frames.map((f) => f.roi));
  });

  it('rtfmri demo --browser on a machine with a network interface: the page ends up on WebRTC and plots the block-design signal', () => {
    const r = results.get('demo')!;
    expect(r.failed, r.failed).toBeUndefined();
    expect(r.errors).toEqual([]);
    expect(r.webrtc).toMatchObject({ address: '10.77.0.1' });
    expect(r.lines!.join('\n')).toMatch(/WebRTC: the runtime offers direct data channels on 10\.77\.0\.1 \(network interface v0\)/);
    expect(r.lines!.join('\n')).toMatch(/the page opened a direct WebRTC channel/);
    expect(r.frames.length).toBe(24);
    expect(r.frames.every((f) => f.link === 'webrtc')).toBe(true);
    expect(r.linkText).toBe('direct (WebRTC)');
    expect(r.whyText).toBe('');
    // The demo passes its own ROI: volumes 11-20 (an "on" block) are ~3 % above volumes 1-10.
    const mean = (a: Frame[]) => a.reduce((x, f) => x + f.roi, 0) / a.length;
    expect(mean(r.frames.slice(10, 20)) / mean(r.frames.slice(0, 10))).toBeGreaterThan(1.02);
    expect(r.roi).toMatchObject({ kind: 'box' });
  });

  it("the demo's analysis (Node SDK) reaches the page's web display panel: config, run status, % signal change per TR, log, uploads", () => {
    const r = results.get('demo')!;
    expect(r.display).toBe('on');
    const p = r.panel!;
    expect(p.shown).toBe(true);
    expect(p.status).toBe('Run 1 done');
    expect(p.configTitle).toBe('rtfmri browser demo');
    // % signal change needs the 10 baseline volumes: TRs 9-23 are plotted, the "on" block (TRs 10-19) near +3 %.
    expect(p.points).toBe(15);
    expect(p.values.slice(1, 11).every((v) => v > 2 && v < 4)).toBe(true);
    expect(p.logLines).toBe(15);
    expect(p.uploads).toBe('24 volumes analysed (nothing uploaded: a demo)\n------upload complete------');
  });

  it('rtfmri demo --browser on a machine with loopback only: says why there is no WebRTC, in the terminal and on the page', () => {
    const r = results.get('demo-noiface')!;
    expect(r.failed, r.failed).toBeUndefined();
    expect(r.webrtc!.why).toMatch(/no network interface besides loopback/);
    expect(r.lines!.join('\n')).toMatch(/WebRTC: not offered, this machine has no network interface besides loopback/);
    expect(r.whyText).toMatch(/^Direct WebRTC not offered: this machine has no network interface besides loopback/);
    expect(r.frames.length).toBe(6);
    expect(r.frames.every((f) => f.link === 'relay/ws')).toBe(true);
    expect(r.linkText).toBe('via relay (WebSocket)');
  });

  it("with transport 'webrtc' and no WebRTC in the browser, never uses the relay and keeps retrying", () => {
    const r = results.get('strict')!;
    expect(r.failed, r.failed).toBeUndefined();
    expect(r.frames).toEqual([]);
    expect(r.state).toBe('disconnected');
    expect(r.statuses.length).toBeGreaterThanOrEqual(2);
    expect(r.statuses.every((s) => !s.connected && /WebRTC/.test(s.reason ?? ''))).toBe(true);
  });
});
