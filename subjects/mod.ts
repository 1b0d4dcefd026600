export { identity, isIdentity, identityFromHostname, token, InvalidNameError, IDENTITY_MAX } from "./identity.js";
export {
  inboxSubject,
  replySubject,
  eventSubject,
  jobSubject,
  jobNeedsToken,
  dlqSubject,
  checkSubject,
  ownerOf,
  ALL_INBOXES,
  ALL_EVENTS,
  ALL_JOBS,
  ALL_DLQ,
  SUBJECT_ROOTS,
} from "./subjects.js";
export {
  ENVELOPE_VERSION,
  MAX_TEXT_BYTES,
  envelopeSchema,
  envelopeKinds,
  parseEnvelope,
  encodeEnvelope,
  newEnvelope,
  newId,
  bodyText,
  zodLine,
  EnvelopeError,
} from "./envelope.js";
export type { Envelope, EnvelopeKind, NewEnvelope } from "./envelope.js";
export { sidecarEventKinds, eventBodies, deadLetterBody, presenceSchema } from "./events.js";
export type { EventKind, EventBody, DeadLetterBody, Presence } from "./events.js";
export { jobBodySchema, jobRecordSchema, jobStates, jobConsumerName } from "./jobs.js";
export type { JobBody, JobRecord, JobState } from "./jobs.js";
export { signerFromSeed, verifyEnvelope, signingBytes } from "./signing.js";
export type { Signer, Verdict } from "./signing.js";
