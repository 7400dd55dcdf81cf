// The anonymization profile is data: a table of (attribute, action). `anonymize` interprets it.
// The default profile blanks rt-cloud's 19 attributes and adds what DICOM PS3.15 Annex E's basic
// application level confidentiality profile removes or replaces and rt-cloud leaves behind, with
// the time of acquisition retained (real-time analysis needs it) and the Siemens mosaic information
// kept through a filtered CSA header (see SAFE_CSA_ELEMENTS).

/**
 * - `K` keep as is
 * - `Z` keep the attribute with an empty value (Annex E "Z"; a sequence becomes empty)
 * - `X` remove the attribute
 * - `U` replace each UID with one from the session's UID map (consistent within a session)
 * - `D` replace the value with `value`
 * - `C` Siemens CSA header: keep only the elements in the profile's `csaKeep` list
 */
export type AnonymizationAction = 'K' | 'Z' | 'X' | 'U' | 'D' | 'C';

export interface ProfileRule {
  /** Keyword ('PatientName') or tag ('00100010', '(0010,0010)'). */
  tag: string;
  action: AnonymizationAction;
  /** Replacement value for `D`. */
  value?: string;
  /** Why (shown in the documentation table). */
  note?: string;
}

/** A private element that is safe to keep, identified by its block's private creator. */
export interface SafePrivateRule {
  group: number;
  creator: string;
  /** Element number within the block (the low byte: 0x10 for (0029,xx10)). */
  element: number;
  action: 'K' | 'C';
  note?: string;
}

export interface AnonymizationProfile {
  name: string;
  /** Rules for standard attributes, applied at every nesting level. */
  rules: ProfileRule[];
  /**
   * UI elements without a rule: replace their UIDs unless they are DICOM-defined UIDs
   * (1.2.840.10008.*: SOP classes, transfer syntaxes, ...). Instance UIDs from the scanner
   * (Siemens: 1.3.12.2.1107.5.2.19.<serial>...) embed the device's serial number.
   */
  replaceOtherUids: boolean;
  /** Remove private elements except `safePrivate` (and their creators). */
  removePrivate: boolean;
  safePrivate: SafePrivateRule[];
  /** CSA header elements kept by action `C`. */
  csaKeep: string[];
  /** Elements set in the top-level data set (added, or replaced when present). */
  add: { tag: string; vr: string; value: string }[];
}

/** rt-cloud's anonymizer blanks exactly these (rtCommon/anonymizeDicom.py). */
export const RTCLOUD_BLANKED = [
  'PatientID', 'PatientAge', 'PatientBirthDate', 'PatientName', 'PatientSex', 'PatientSize', 'PatientWeight',
  'PatientPosition', 'StudyDate', 'StudyTime', 'SeriesDate', 'SeriesTime', 'AcquisitionDate', 'ContentDate',
  'ContentTime', 'InstanceCreationDate', 'InstanceCreationTime', 'PerformedProcedureStepStartDate',
  'PerformedProcedureStepStartTime',
] as const;

/** Non-identifying CSA image header elements: mosaic layout, slice timing and geometry, diffusion. */
export const SAFE_CSA_ELEMENTS = [
  'NumberOfImagesInMosaic', 'MosaicRefAcqTimes', 'AcquisitionMatrixText', 'SliceNormalVector',
  'SliceMeasurementDuration', 'TimeAfterStart', 'PhaseEncodingDirectionPositive', 'BandwidthPerPixelPhaseEncode',
  'ProtocolSliceNumber', 'RealDwellTime', 'ImaPATModeText', 'B_value', 'B_matrix', 'DiffusionGradientDirection',
  'DiffusionDirectionality', 'MultistepIndex', 'EchoLinePosition', 'EchoColumnPosition', 'EchoPartitionPosition',
];

const blank = (tag: string, note = 'rt-cloud blanks it'): ProfileRule => ({ tag, action: 'Z', note });
const remove = (tag: string, note: string): ProfileRule => ({ tag, action: 'X', note });
const uid = (tag: string): ProfileRule => ({ tag, action: 'U', note: 'instance UID: replaced consistently within the session' });

export const DEFAULT_PROFILE: AnonymizationProfile = {
  name: 'rtfmri-basic',
  rules: [
    ...RTCLOUD_BLANKED.map((k) => blank(k)),
    // Annex E basic profile items rt-cloud leaves behind
    remove('InstitutionName', 'Annex E X'),
    remove('InstitutionAddress', 'Annex E X'),
    remove('InstitutionalDepartmentName', 'Annex E X'),
    remove('StationName', 'Annex E X'),
    remove('DeviceSerialNumber', 'Annex E X (also embedded in Siemens UIDs, which are replaced)'),
    remove('OperatorsName', 'Annex E X'),
    blank('ReferringPhysicianName', 'Annex E Z (type 2)'),
    remove('ReferringPhysicianAddress', 'Annex E X'),
    remove('ReferringPhysicianTelephoneNumbers', 'Annex E X'),
    remove('PerformingPhysicianName', 'Annex E X'),
    remove('PhysiciansOfRecord', 'Annex E X'),
    remove('NameOfPhysiciansReadingStudy', 'Annex E X'),
    remove('RequestingPhysician', 'Annex E X'),
    remove('OtherPatientIDs', 'Annex E X'),
    remove('OtherPatientNames', 'Annex E X'),
    remove('OtherPatientIDsSequence', 'Annex E X'),
    remove('IssuerOfPatientID', 'Annex E X'),
    remove('PatientBirthName', 'Annex E X'),
    remove('PatientBirthTime', 'Annex E X'),
    remove('PatientAddress', 'Annex E X'),
    remove('PatientMotherBirthName', 'Annex E X'),
    remove('PatientTelephoneNumbers', 'Annex E X'),
    remove('MilitaryRank', 'Annex E X'),
    remove('MedicalRecordLocator', 'Annex E X'),
    remove('EthnicGroup', 'Annex E X'),
    remove('Occupation', 'Annex E X'),
    remove('AdditionalPatientHistory', 'Annex E X'),
    remove('PatientComments', 'Annex E X'),
    blank('AccessionNumber', 'Annex E Z'),
    blank('StudyID', 'Annex E Z'),
    remove('StudyDescription', 'Annex E X: scanners put names in it (e.g. "Last_First^...")'),
    remove('SeriesDescription', 'Annex E X'),
    blank('ProtocolName', 'Annex E D: free text'),
    remove('PerformedProcedureStepDescription', 'Annex E X: carries names like the study description'),
    remove('PerformedProcedureStepID', 'Annex E X'),
    remove('PerformedProcedureStepEndDate', 'Annex E X'),
    remove('PerformedProcedureStepEndTime', 'Annex E X'),
    remove('PerformedStationName', 'Annex E X'),
    remove('PerformedLocation', 'Annex E X'),
    remove('RequestedProcedureDescription', 'Annex E X'),
    remove('RequestedProcedureID', 'Annex E X'),
    remove('ScheduledProcedureStepID', 'Annex E X'),
    remove('RequestAttributesSequence', 'Annex E X'),
    remove('ReferencedPatientSequence', 'Annex E X'),
    remove('ReferencedStudySequence', 'Annex E X'),
    remove('ReferencedPerformedProcedureStepSequence', 'Annex E X'),
    remove('AdmittingDiagnosesDescription', 'Annex E X'),
    remove('DerivationDescription', 'Annex E X'),
    remove('ImageComments', 'Annex E X'),
    remove('AcquisitionDateTime', 'Annex E X: carries the date (the time stays in AcquisitionTime)'),
    blank('ContentCreatorName', 'Annex E Z'),
    uid('StudyInstanceUID'),
    uid('SeriesInstanceUID'),
    uid('SOPInstanceUID'),
    uid('MediaStorageSOPInstanceUID'),
    uid('FrameOfReferenceUID'),
    uid('SynchronizationFrameOfReferenceUID'),
    uid('ReferencedSOPInstanceUID'),
    uid('IrradiationEventUID'),
    uid('InstanceCreatorUID'),
    uid('StorageMediaFileSetUID'),
    // kept on purpose (also the default for anything not listed)
    { tag: 'AcquisitionTime', action: 'K', note: 'retained temporal information: volume timing' },
    { tag: 'RepetitionTime', action: 'K', note: 'needed by real-time analysis' },
  ],
  replaceOtherUids: true,
  removePrivate: true,
  safePrivate: [
    { group: 0x0029, creator: 'SIEMENS CSA HEADER', element: 0x10, action: 'C', note: 'CSA image header, filtered to mosaic/timing/geometry elements' },
    { group: 0x0019, creator: 'SIEMENS MR HEADER', element: 0x0a, action: 'K', note: 'NumberOfImagesInMosaic' },
    { group: 0x0019, creator: 'SIEMENS MR HEADER', element: 0x29, action: 'K', note: 'MosaicRefAcqTimes' },
  ],
  csaKeep: SAFE_CSA_ELEMENTS,
  add: [
    { tag: '00120062', vr: 'CS', value: 'YES' },
    { tag: '00120063', vr: 'LO', value: 'rtfmri-basic: PS3.15 E subset, acquisition time retained' },
  ],
};
