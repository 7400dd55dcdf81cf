// Transfer syntax UIDs and the data set encoding each one selects; the parser and the writer both
// read them from here.

export const IMPLICIT_VR_LE = '1.2.840.10008.1.2';
export const EXPLICIT_VR_LE = '1.2.840.10008.1.2.1';
export const DEFLATED_EXPLICIT_VR_LE = '1.2.840.10008.1.2.1.99';
export const EXPLICIT_VR_BE = '1.2.840.10008.1.2.2';
/** JPEG Baseline (Process 1): an example of a compressed syntax (encapsulated pixel data). */
export const JPEG_BASELINE = '1.2.840.10008.1.2.4.50';

export interface DataSetEncoding {
  explicit: boolean;
  bigEndian: boolean;
  deflated: boolean;
}

/** The encoding of the data set under `uid`. */
export function syntaxOf(uid: string): DataSetEncoding {
  switch (uid) {
    case IMPLICIT_VR_LE: return { explicit: false, bigEndian: false, deflated: false };
    case EXPLICIT_VR_BE: return { explicit: true, bigEndian: true, deflated: false };
    case DEFLATED_EXPLICIT_VR_LE: return { explicit: true, bigEndian: false, deflated: true };
    // every other standard transfer syntax (compressed ones included) is explicit VR LE
    default: return { explicit: true, bigEndian: false, deflated: false };
  }
}
