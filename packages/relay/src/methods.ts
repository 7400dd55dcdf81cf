/**
 * The DataInterface methods a session may call on a runtime (DESIGN.md's API): the one allow-list
 * the runtime exposes, the SDK calls and the relay's scoped tokens name.
 */
export const DATA_INTERFACE_METHODS = [
  'initScannerStream', 'getImageData', 'closeStream', 'getFile', 'getNewestFile', 'initWatch', 'watchFile',
  'putFile', 'listFiles', 'listDirs', 'getAllowedFileTypes', 'getClockSkew', 'ping',
] as const;
export type DataInterfaceMethod = (typeof DATA_INTERFACE_METHODS)[number];
