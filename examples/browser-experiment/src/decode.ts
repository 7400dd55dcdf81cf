// Compressed pixel data (JPEG-LS, JPEG 2000, HTJ2K, JPEG baseline, JPEG lossless, RLE) decoded
// with @cornerstonejs/dicom-image-loader's decoders and their WebAssembly codecs. The loader's own
// worker module is not imported: it would register a second comlink endpoint in this worker.
// Its decoder modules are reached through the build's `cornerstone-decoders/` alias.
import type { DicomDataset } from '@rtfmri/dicom-wasm';
import type { PixelDecoder } from '@rtfmri/sdk/browser';
// @ts-expect-error untyped deep module (build alias)
import { setWasmBasePath } from 'cornerstone-decoders/../wasmBasePath.js';
// @ts-expect-error untyped deep module (build alias)
import decodeRLE from 'cornerstone-decoders/decodeRLE.js';
// @ts-expect-error untyped deep module (build alias)
import decodeJPEGLossless from 'cornerstone-decoders/decodeJPEGLossless.js';
// @ts-expect-error untyped deep module (build alias)
import decodeJPEGLS from 'cornerstone-decoders/decodeJPEGLS.js';
// @ts-expect-error untyped deep module (build alias)
import decodeJPEG2000 from 'cornerstone-decoders/decodeJPEG2000.js';
// @ts-expect-error untyped deep module (build alias)
import decodeHTJ2K from 'cornerstone-decoders/decodeHTJ2K.js';
// @ts-expect-error untyped deep module (build alias)
import decodeJPEGBaseline8Bit from 'cornerstone-decoders/decodeJPEGBaseline8Bit.js';

// The build copies the codecs' .wasm files to codecs/ beside the worker script (this module is a chunk elsewhere).
setWasmBasePath(new URL('./codecs/', (self as unknown as { location: { href: string } }).location.href).href);

type Frame = Record<string, unknown> & { pixelData?: ArrayLike<number> & { buffer: ArrayBuffer } };
type Decoder = (a: unknown, b: unknown) => Promise<Frame>;

/** Transfer syntax -> how to call the decoder (cornerstone's argument orders differ per codec). */
const BY_SYNTAX: Record<string, (frame: Frame, bytes: Uint8Array) => Promise<Frame>> = {
  '1.2.840.10008.1.2.5': (f, b) => (decodeRLE as Decoder)(f, b),
  '1.2.840.10008.1.2.4.57': (f, b) => (decodeJPEGLossless as Decoder)(f, b),
  '1.2.840.10008.1.2.4.70': (f, b) => (decodeJPEGLossless as Decoder)(f, b),
  '1.2.840.10008.1.2.4.80': (f, b) => (decodeJPEGLS as Decoder)(b, { signed: f.pixelRepresentation === 1, bytesPerPixel: (f.bitsAllocated as number) <= 8 ? 1 : 2, ...f }),
  '1.2.840.10008.1.2.4.81': (f, b) => (decodeJPEGLS as Decoder)(b, { signed: f.pixelRepresentation === 1, bytesPerPixel: (f.bitsAllocated as number) <= 8 ? 1 : 2, ...f }),
  '1.2.840.10008.1.2.4.90': (f, b) => (decodeJPEG2000 as Decoder)(b, { ...f }),
  '1.2.840.10008.1.2.4.91': (f, b) => (decodeJPEG2000 as Decoder)(b, { ...f }),
  '1.2.840.10008.1.2.4.201': (f, b) => (decodeHTJ2K as Decoder)(b, { ...f }),
  '1.2.840.10008.1.2.4.202': (f, b) => (decodeHTJ2K as Decoder)(b, { ...f }),
  '1.2.840.10008.1.2.4.203': (f, b) => (decodeHTJ2K as Decoder)(b, { ...f }),
  '1.2.840.10008.1.2.4.50': (f, b) => (decodeJPEGBaseline8Bit as Decoder)(b, { ...f }),
};

export const SUPPORTED_SYNTAXES = Object.keys(BY_SYNTAX);

export const cornerstoneDecoder: PixelDecoder = async (ds: DicomDataset) => {
  const ts = ds.transferSyntaxUID;
  const decode = BY_SYNTAX[ts];
  if (!decode) throw new Error(`no decoder for transfer syntax ${ts}`);
  const fragments = ds.pixelData() as Uint8Array[];
  // One frame: its fragments, joined (RLE and most single-frame files have exactly one).
  let bytes: Uint8Array;
  if (fragments.length === 1) bytes = fragments[0];
  else {
    bytes = new Uint8Array(fragments.reduce((n, f) => n + f.length, 0));
    let o = 0;
    for (const f of fragments) bytes.set(f, o), (o += f.length);
  }
  const frame: Frame = {
    rows: ds.getNumber('Rows'),
    columns: ds.getNumber('Columns'),
    bitsAllocated: ds.getNumber('BitsAllocated'),
    bitsStored: ds.getNumber('BitsStored'),
    pixelRepresentation: ds.getNumber('PixelRepresentation') ?? 0,
    samplesPerPixel: ds.getNumber('SamplesPerPixel') ?? 1,
    photometricInterpretation: ds.getString('PhotometricInterpretation') ?? 'MONOCHROME2',
    planarConfiguration: ds.getNumber('PlanarConfiguration') ?? 0,
  };
  const out = await decode(frame, bytes);
  const px = out.pixelData;
  if (!px) throw new Error(`decoder for ${ts} returned no pixels`);
  if (px instanceof Int16Array || px instanceof Uint16Array || px instanceof Uint8Array || px instanceof Float32Array) return px;
  return new Float32Array(px as ArrayLike<number>);
};
