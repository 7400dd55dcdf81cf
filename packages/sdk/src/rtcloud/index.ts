// rt-cloud's experiment-script helpers (rtCommon.imageHandling, rtCommon.utils) and NIfTI-1, the parts
// that run in Node and in browsers. The file-based ones (readDicomFromFile, findNewestFile,
// convertDicomFileToNifti, readNifti, saveAsNiftiImage, ...) are in ./node.ts, exported by the Node
// entry only. MOVING-FROM-RTCLOUD.md maps every rt-cloud function to its equivalent.
export {
  readRetryDicomFromDataInterface, readDicomFromBuffer, writeDicomToBuffer, anonymizeDicom, attributesToAnonymize,
  rtcloudAnonymizationProfile,
  parseDicomVolume, getDicomFileName, isRunningRemote, convertDicomImgToNifti, getTransform, niftiLikeReference,
  READ_RETRY_FIRST_LOOK, READ_RETRY_SETTLE, READ_RETRY_SETTLE_UNSEEN,
  type WatchAccess, type DicomVolume, type DicomNameConfig,
} from './image-handling.js';
export { stringPartialFormat, pyFormat, formatValue } from './format.js';
export {
  getTimeToNextTR, dtimeToSeconds, dtime, nowTime, parseDicomTime, dicomTimeToNextTr, calcAvgRoundTripTime,
  type DTime,
} from './utils.js';
export {
  // images
  decodeNifti, encodeNifti, niftiImage, getFdata, voxelIndex, isGzip,
  // DICOM -> NIfTI (dcm2niix's and nibabel's layouts)
  dicomToNifti, mosaicToNii, DicomToNiftiError,
  // header
  NIFTI_TYPE, NIFTI_XFORM, NIFTI_SLICE, XFORM_LABELS, SLICE_LABELS, decodeNifti1Header, encodeNifti1Header,
  getSform, getQform, headerAffine, setSform, setQform,
  // affines and orientations (nibabel.orientations)
  applyAffine, invAffine, matmul, mat44ToQuatern, quaternToMat44, voxelSizes,
  aff2axcodes, axcodes2ornt, orntToAxcodes, ioOrientation, orntTransform, applyOrientation, invOrntAff,
  type NiftiImage, type Nifti1Header, type NiftiData, type Mat4, type Orientation, type AxCodes, type DicomToNiftiOptions,
} from '../nifti/index.js';
