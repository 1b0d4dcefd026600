export { identity, isIdentity, identityFromHostname, token, InvalidNameError, IDENTITY_MAX } from "./identity.js";
export {
  inboxSubject,
  inboxOf,
  inboxesFrom,
  legacyInboxSubject,
  senderOf,
  UNKNOWN_SENDER,
  replySubject,
  isReplySubjectOf,
  eventSubject,
  jobSubject,
  jobNeedsToken,
  dlqSubject,
  checkSubject,
  ownerOf,
  ALL_INBOXES,
  ALL_EVENTS,
  ALL_REPLIES,
  eventsOf,
  dlqOf,
  repliesTo,
  ALL_JOBS,
  ALL_DLQ,
  SUBJECT_ROOTS,
} from "./subjects.js";
export {
  ENVELOPE_VERSION,
  MAX_TEXT_BYTES,
  envelopeSchema,
  sealedBodySchema,
  sealedBodySchemaFor,
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
export { sidecarEventKinds, eventBodies, checkEvent, deadLetterBody, presenceSchema } from "./events.js";
export type { EventKind, EventBody, EventCheck, DeadLetterBody, Presence } from "./events.js";
export { pinnedRepoSchema, commitShaSchema, jobBodySchema, jobRecordSchema, jobStates, jobSubmissionSchema, jobCancelSchema, jobRunSchema, jobVersionSchema, runStates, MAX_CAPABILITIES, MAX_JOB_READERS, SEALED_TASK_MAX, SEALED_RESULT_MAX, sealedJobPart } from "./jobs.js";
export type { JobBody, JobRecord, JobState, JobSubmission, JobCancel, JobRun, JobVersion, RunState } from "./jobs.js";
export { jobOutcome, jobKey, grantRefusal, JOB_KEY_KINDS } from "./job-rules.js";
export type { StoredVersion, Refusal, JobGrants, RuleContext, JobOutcome, JobKeyKind, JobVersions } from "./job-rules.js";
export { signerFromSeed, verifyEnvelope, signingBytes } from "./signing.js";
export type { Signer, Verdict } from "./signing.js";
export { STREAMS, BUCKETS, inboxConsumerName, inboxStreamName, dlqStreamName, hooksStreamName, historyStreamName, repliesStreamName, streamOwner, inboxConsumerOwner, hookConsumerName, jobConsumerName, jobBucketName, jobBucketOwner, a2aBucketName, a2aBucketOwner, clientInboxPrefix, kvSubject } from "./names.js";
export {
  SESSION_PREFIX,
  PEER_ALERTS_SESSION_KEY,
  peerSessionKey,
  jobSessionKey,
  hookSessionKey,
  alertSessionKey,
  parseSessionKey,
  isAutomationSession,
  sameSession,
  defaultConversation,
  jobConversation,
  a2aSessionKey,
  JOB_PEER_PREFIX,
  jobPeerName,
  parseJobPeer,
} from "./session-keys.js";
export { ID_RE, CONTEXT_RE, MAX_HOPS } from "./envelope-core.js";
export type { MeshSession } from "./session-keys.js";
export { SHA_RE, isSha, stripCredentials, normalizeRemote, optionLike, refNameRefusal, repoNameFrom, branchOf, shortSha, parsePinLine } from "./repos.js";
