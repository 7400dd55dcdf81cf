// The anonymization profile is data: a table of (attribute, action) that `anonymize` interprets at
// every nesting level. The default is DICOM PS3.15's Basic Application Level Confidentiality
// Profile: every row of Table E.1-1 (edition in basic-profile-table.ts, generated from a
// machine-readable copy of the standard by scripts/gen-basic-profile.mjs), with two of its options:
// Retain Longitudinal Temporal Information with Modified Dates (dates shifted, times kept) and
// Retain Safe Private (an allow-list of Siemens/GE/Philips acquisition parameters, the Siemens CSA
// image header filtered to the elements mosaics, slice timing and diffusion need).

import { vrOf } from '../dictionary.js';
import type { WriteValue } from '../writer.js';
import { BASIC_PROFILE_EDITION, BASIC_PROFILE_SOURCE, BASIC_PROFILE_TABLE } from './basic-profile-table.js';

export { BASIC_PROFILE_EDITION, BASIC_PROFILE_SOURCE, BASIC_PROFILE_TABLE };

/**
 * - `K` keep as is (a sequence is kept and its items are cleaned by the same rules)
 * - `Z` keep the attribute with an empty value (a sequence becomes empty)
 * - `X` remove the attribute
 * - `U` replace each UID with one from the session's UID map (the same for the same secret)
 * - `D` replace the value with a dummy of its VR (`value` when given; a sequence is emptied)
 * - `S` modified dates: DA and DT values shifted back by the UID map's `dateShiftDays` (a DT keeps
 *   its time of day and loses its UTC offset); a value that is not a valid date is emptied; an
 *   element of any other VR is removed
 * - `C` Siemens CSA header (safe private rules only): keep only the elements in `csaKeep`
 */
export type AnonymizationAction = 'K' | 'Z' | 'X' | 'U' | 'D' | 'S' | 'C';

export interface ProfileRule {
  /**
   * Keyword ('PatientName'), tag ('00100010', '(0010,0010)'), or a repeating group with x digits
   * ('(50xx,xxxx)', '60xx3000': the group's low byte is then any even value).
   */
  tag: string;
  action: AnonymizationAction;
  /** Replacement value for `D`. */
  value?: string;
  /** The Table E.1-1 code the action was resolved from ('X/Z/D', ...), when it comes from the table. */
  basic?: string;
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

/**
 * Retain Longitudinal Temporal Information:
 * - `modified` (default; PS3.15 "Modified Dates" option, code 113107): every time (TM) of the
 *   table is kept; every date (DA) and date-time (DT) is shifted back by a whole number of days
 *   that derives from the UID map's secret (the same for every file, process and restart of a
 *   site); date-times keep their time of day; other temporal attributes (TimezoneOffsetFromUTC,
 *   the binary timestamps) are removed as the Basic Profile says.
 * - `full` ("Full Dates" option, 113106): every date and time of the table is kept.
 * - `remove`: no option; dates and times follow the Basic Profile (removed, emptied or dummies).
 */
export type TemporalOption = 'modified' | 'full' | 'remove';

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
  add: { tag: string; vr: string; value: WriteValue }[];
  /** The temporal option the rules were resolved with (documentation; the rules decide). */
  temporal?: TemporalOption;
}

/** rt-cloud's anonymizer blanks exactly these (rtCommon/anonymizeDicom.py); for comparison. */
export const RTCLOUD_BLANKED = [
  'PatientID', 'PatientAge', 'PatientBirthDate', 'PatientName', 'PatientSex', 'PatientSize', 'PatientWeight',
  'PatientPosition', 'StudyDate', 'StudyTime', 'SeriesDate', 'SeriesTime', 'AcquisitionDate', 'ContentDate',
  'ContentTime', 'InstanceCreationDate', 'InstanceCreationTime', 'PerformedProcedureStepStartDate',
  'PerformedProcedureStepStartTime',
] as const;

/**
 * Non-identifying CSA image header elements: mosaic layout, slice timing and geometry, diffusion,
 * phase encoding. Each is a number, a list of numbers or the acquisition matrix text.
 */
export const SAFE_CSA_ELEMENTS = [
  'NumberOfImagesInMosaic', 'MosaicRefAcqTimes', 'AcquisitionMatrixText', 'SliceNormalVector',
  'SliceMeasurementDuration', 'TimeAfterStart', 'PhaseEncodingDirectionPositive', 'BandwidthPerPixelPhaseEncode',
  'ProtocolSliceNumber', 'RealDwellTime', 'ImaPATModeText', 'B_value', 'B_matrix', 'DiffusionGradientDirection',
  'DiffusionDirectionality', 'MultistepIndex', 'EchoLinePosition', 'EchoColumnPosition', 'EchoPartitionPosition',
];

/**
 * Retain Safe Private: the private elements kept (with their creators), all acquisition numbers
 * that dcm2niix and heudiconv read for fMRI and diffusion. Everything else private is removed.
 */
export const SAFE_PRIVATE: SafePrivateRule[] = [
  { group: 0x0029, creator: 'SIEMENS CSA HEADER', element: 0x10, action: 'C', note: 'CSA image header, filtered to SAFE_CSA_ELEMENTS' },
  { group: 0x0019, creator: 'SIEMENS MR HEADER', element: 0x0a, action: 'K', note: 'NumberOfImagesInMosaic' },
  { group: 0x0019, creator: 'SIEMENS MR HEADER', element: 0x0b, action: 'K', note: 'SliceMeasurementDuration' },
  { group: 0x0019, creator: 'SIEMENS MR HEADER', element: 0x0c, action: 'K', note: 'B_value' },
  { group: 0x0019, creator: 'SIEMENS MR HEADER', element: 0x0d, action: 'K', note: 'DiffusionDirectionality' },
  { group: 0x0019, creator: 'SIEMENS MR HEADER', element: 0x0e, action: 'K', note: 'DiffusionGradientDirection' },
  { group: 0x0019, creator: 'SIEMENS MR HEADER', element: 0x27, action: 'K', note: 'B_matrix' },
  { group: 0x0019, creator: 'SIEMENS MR HEADER', element: 0x28, action: 'K', note: 'BandwidthPerPixelPhaseEncode' },
  { group: 0x0019, creator: 'SIEMENS MR HEADER', element: 0x29, action: 'K', note: 'MosaicRefAcqTimes (slice timing)' },
  { group: 0x0043, creator: 'GEMS_PARM_01', element: 0x2c, action: 'K', note: 'GE effective echo spacing' },
  { group: 0x0043, creator: 'GEMS_PARM_01', element: 0x39, action: 'K', note: 'GE slop_int_6..9 (b-value)' },
  { group: 0x0019, creator: 'GEMS_ACQU_01', element: 0xbb, action: 'K', note: 'GE user data 20 (gradient x)' },
  { group: 0x0019, creator: 'GEMS_ACQU_01', element: 0xbc, action: 'K', note: 'GE user data 21 (gradient y)' },
  { group: 0x0019, creator: 'GEMS_ACQU_01', element: 0xbd, action: 'K', note: 'GE user data 22 (gradient z)' },
  { group: 0x2001, creator: 'Philips Imaging DD 001', element: 0x03, action: 'K', note: 'Philips diffusion b-factor' },
  { group: 0x2001, creator: 'Philips Imaging DD 001', element: 0x04, action: 'K', note: 'Philips diffusion direction' },
  { group: 0x2005, creator: 'Philips MR Imaging DD 001', element: 0xb0, action: 'K', note: 'Philips diffusion direction RL' },
  { group: 0x2005, creator: 'Philips MR Imaging DD 001', element: 0xb1, action: 'K', note: 'Philips diffusion direction AP' },
  { group: 0x2005, creator: 'Philips MR Imaging DD 001', element: 0xb2, action: 'K', note: 'Philips diffusion direction FH' },
];

/** How a combined Table E.1-1 code resolves (IOD conformance types are not tracked). */
export const COMBINED_CODES: Record<string, AnonymizationAction> = {
  D: 'D',
  Z: 'Z',
  X: 'X',
  K: 'K',
  U: 'U',
  C: 'X',
  // Z unless D is needed for IOD conformance: empty (leaves nothing)
  'Z/D': 'Z',
  // X unless Z is needed: empty, which keeps Type 2 attributes conformant and leaves nothing
  'X/Z': 'Z',
  // X unless D is needed: removed (a dummy would only pretend to be a value)
  'X/D': 'X',
  'X/Z/D': 'Z',
  // X unless Z, or replacing the UIDs inside, is needed: kept, its items cleaned (UIDs replaced)
  'X/Z/U*': 'K',
};

/** The table's tag column as a profile rule tag. */
function ruleTag(t: string): string {
  return t.includes('x') ? `(${t.slice(0, 4)},${t.slice(4)})` : t;
}

/** The action of one Table E.1-1 row under a temporal option. */
export function resolveRow(code: string, options: string, tag: string, temporal: TemporalOption): AnonymizationAction {
  const basic = COMBINED_CODES[code];
  if (!options.includes('T') || temporal === 'remove') return basic;
  if (temporal === 'full') return 'K';
  const vr = tag.includes('x') ? undefined : vrOf(parseInt(tag, 16));
  if (vr === 'TM') return 'K';
  if (vr === 'DA' || vr === 'DT') return 'S';
  return basic;
}

const CODE_MEANINGS: Record<string, string> = {
  '113100': 'Basic Application Confidentiality Profile',
  '113106': 'Retain Longitudinal Temporal Information Full Dates Option',
  '113107': 'Retain Longitudinal Temporal Information Modified Dates Option',
  '113111': 'Retain Safe Private Option',
};

const codeItem = (code: string) => ({
  elements: [
    { tag: 0x00080100, vr: 'SH', value: code },
    { tag: 0x00080102, vr: 'SH', value: 'DCM' },
    { tag: 0x00080104, vr: 'LO', value: CODE_MEANINGS[code] },
  ],
});

export interface BasicProfileOptions {
  /** Retain Longitudinal Temporal Information (default 'modified'). */
  temporal?: TemporalOption;
  /** Retain Safe Private with SAFE_PRIVATE (default true); false removes every private element. */
  safePrivate?: boolean;
}

const built = new Map<string, AnonymizationProfile>();

/**
 * The Basic Profile with options, as data (one object per option set, so the compiled lookups and
 * plans are shared). Every Table E.1-1 row becomes a rule; combined codes resolve as
 * COMBINED_CODES says; the temporal option rewrites the rows of the temporal column; private
 * attributes go except SAFE_PRIVATE; PatientIdentityRemoved, DeidentificationMethod(CodeSequence)
 * and LongitudinalTemporalInformationModified are set.
 */
export function basicProfile(options: BasicProfileOptions = {}): AnonymizationProfile {
  const temporal = options.temporal ?? 'modified';
  const safe = options.safePrivate ?? true;
  if (temporal !== 'modified' && temporal !== 'full' && temporal !== 'remove') throw new RangeError(`unknown temporal option ${String(temporal)}`);
  const key = `${temporal}/${safe}`;
  const hit = built.get(key);
  if (hit) return hit;
  const rules: ProfileRule[] = [];
  for (const [tag, code, opts, name] of BASIC_PROFILE_TABLE) {
    if (tag === 'odd') continue; // private attributes: removePrivate / safePrivate
    rules.push({ tag: ruleTag(tag), action: resolveRow(code, opts, tag, temporal), basic: code, note: name });
  }
  const codes = ['113100', temporal === 'modified' ? '113107' : temporal === 'full' ? '113106' : '', safe ? '113111' : ''].filter(Boolean);
  const method = [
    `PS3.15 ${BASIC_PROFILE_EDITION} E.1-1 Basic Profile (rtfmri)`,
    temporal === 'modified' ? 'Modified Dates: dates shifted, times kept' : temporal === 'full' ? 'Full Dates: dates and times kept' : 'dates and times removed',
    ...(safe ? ['Safe Private: Siemens CSA/MR, GE, Philips acquisition values'] : []),
  ];
  const profile: AnonymizationProfile = {
    name: `basic-${temporal}${safe ? '-safe-private' : ''}`,
    rules,
    replaceOtherUids: true,
    removePrivate: true,
    safePrivate: safe ? SAFE_PRIVATE : [],
    csaKeep: SAFE_CSA_ELEMENTS,
    add: [
      { tag: '00120062', vr: 'CS', value: 'YES' },
      { tag: '00120063', vr: 'LO', value: method },
      { tag: '00120064', vr: 'SQ', value: codes.map(codeItem) },
      { tag: '00280303', vr: 'CS', value: temporal === 'modified' ? 'MODIFIED' : temporal === 'full' ? 'UNMODIFIED' : 'REMOVED' },
    ],
    temporal,
  };
  built.set(key, profile);
  return profile;
}

export const DEFAULT_PROFILE: AnonymizationProfile = basicProfile();
