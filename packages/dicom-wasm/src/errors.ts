/** Thrown by `parseDicom` for any malformed, truncated or hostile input; never another error type. */
export class DicomParseError extends Error {
  readonly code = 'DICOM_PARSE' as const;
  /** Byte offset in `bytes` (for deflated files: in the inflated buffer) where the problem is. */
  readonly offset: number;
  /** Short machine-friendly reason, e.g. 'truncated element header'. */
  readonly reason: string;
  constructor(reason: string, offset: number, detail?: string) {
    super(`${reason} at offset ${offset}${detail ? `: ${detail}` : ''}`);
    this.name = 'DicomParseError';
    this.reason = reason;
    this.offset = offset;
  }
}
