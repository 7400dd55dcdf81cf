// NIfTI-1 for Node and browsers: header, image encode/decode (.nii / .nii.gz), affines and
// orientations, DICOM -> NIfTI as dcm2niix and nibabel do it. No Node built-ins here; the file
// wrappers (readNifti, saveAsNiftiImage, convertDicomFileToNifti) live in ../rtcloud/node.ts.
export {
  NIFTI_TYPE, NIFTI_XFORM, NIFTI_SLICE, NIFTI1_HEADER_SIZE, NIFTI1_VOX_OFFSET, XFORM_LABELS, SLICE_LABELS,
  emptyHeader, cloneHeader, decodeNifti1Header, encodeNifti1Header, getSform, getQform, headerAffine, setSform, setQform,
  shapeOf, niftiByteOrder, ctorOf, datatypeOf,
  type Nifti1Header, type NiftiData,
} from './header.js';
export {
  decodeNifti, encodeNifti, niftiImage, getFdata, voxelIndex, harmonizedHeader, isGzip, MAX_NIFTI_BYTES,
  type NiftiImage,
} from './image.js';
export {
  identity4, matmul, applyAffine, invAffine, det3, inv3, cross, dot, norm, polar3, mat44ToQuatern, quaternToMat44,
  voxelSizes, maxAbsDiff, transpose,
  type Mat4, type Mat3, type Quatern,
} from './affine.js';
export {
  ioOrientation, aff2axcodes, axcodes2ornt, orntToAxcodes, orntTransform, applyOrientation, invOrntAff,
  type Orientation, type AxCodes,
} from './orientation.js';
export {
  dicomToNifti, mosaicToNii, sliceOrderOf, formatG, csaImageHeader, DicomToNiftiError,
  type DicomToNiftiOptions,
} from './dicom.js';
