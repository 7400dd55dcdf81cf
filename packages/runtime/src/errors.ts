// The typed errors that cross the wire live in @rtfmri/transport (its browser-safe entry): one set
// of classes for the whole project. Re-exported here so runtime users need one import.
export {
  RtfmriError,
  ValidationError,
  NotFoundError,
  TimeoutError,
  StateError,
  DisconnectedError,
} from '@rtfmri/transport';
