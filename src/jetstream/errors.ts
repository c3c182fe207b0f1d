/** nats-server's JetStream API errors (server/errors.json): HTTP-like code, err_code and description. */
export interface ApiError {
  code: number;
  err_code: number;
  description: string;
}

function e(code: number, err_code: number, description: string): ApiError {
  return { code, err_code, description };
}

export const Errors = {
  badRequest: () => e(400, 10003, "bad request"),
  /** nats-server 2.9 does not say what was wrong with the JSON. */
  invalidJson: (_err?: string) => e(400, 10025, "invalid JSON"),
  notEmptyRequest: () => e(400, 10038, "expected an empty request payload"),
  streamNotFound: () => e(404, 10059, "stream not found"),
  streamNameExist: () => e(400, 10058, "stream name already in use with a different configuration"),
  streamMismatch: () => e(400, 10056, "stream name in subject does not match request"),
  streamInvalidConfig: (err: string) => e(500, 10052, err),
  streamSubjectOverlap: () => e(400, 10065, "subjects overlap with an existing stream"),
  streamUpdate: (err: string) => e(500, 10069, err),
  replicasCountCannotBeNegative: () => e(400, 10133, "replicas count cannot be negative"),
  streamReplicasNotSupported: () => e(500, 10074, "replicas > 1 not supported in non-clustered mode"),
  consumerReplicasExceedsStream: () => e(400, 10126, "consumer config replica count exceeds parent stream"),
  streamMsgDeleteFailed: (err: string) => e(500, 10057, err),
  streamPurgeFailed: (err: string) => e(500, 10110, err),
  streamSealed: () => e(400, 10109, "invalid operation on sealed stream"),
  streamStoreFailed: (err: string) => e(503, 10077, err),
  streamWrongLastSequence: (seq: number) => e(400, 10071, `wrong last sequence: ${seq}`),
  streamWrongLastMsgId: (id: string) => e(400, 10070, `wrong last msg ID: ${id}`),
  streamNotMatch: () => e(400, 10060, "expected stream does not match"),
  streamMessageExceedsMaximum: () => e(400, 10054, "message size exceeds maximum allowed"),
  streamRollupFailed: (err: string) => e(500, 10111, err),
  streamMirrorNotUpdatable: () => e(400, 10055, "stream mirror configuration can not be updated"),
  mirrorWithSubjects: () => e(400, 10034, "stream mirrors can not contain subjects"),
  mirrorWithSources: () => e(400, 10031, "stream mirrors can not also contain other sources"),
  noMessageFound: () => e(404, 10037, "no message found"),
  sequenceNotFound: (seq: number) => e(400, 10043, `sequence ${seq} not found`),
  consumerNotFound: () => e(404, 10014, "consumer not found"),
  consumerNameExist: () => e(400, 10013, "consumer name already in use"),
  consumerCreate: (err: string) => e(500, 10012, err),
  consumerConfigRequired: () => e(400, 10078, "consumer config required"),
  consumerInvalidPolicy: (err: string) => e(400, 10094, err),
  consumerDurableNameNotInSubject: () => e(400, 10016, "consumer expected to be durable but no durable name set in subject"),
  consumerDurableNameNotMatchSubject: () => e(400, 10017, "consumer name in subject does not match durable name in request"),
  consumerDurableNameNotSet: () => e(400, 10018, "consumer expected to be durable but a durable name was not set"),
  consumerEphemeralWithDurableInSubject: () =>
    e(400, 10019, "consumer expected to be ephemeral but detected a durable name set in subject"),
  consumerEphemeralWithDurableName: () =>
    e(400, 10020, "consumer expected to be ephemeral but a durable name was set in request"),
  consumerWQRequiresExplicitAck: () => e(400, 10098, "workqueue stream requires explicit ack"),
  consumerWQMultipleUnfiltered: () => e(400, 10099, "multiple non-filtered consumers not allowed on workqueue stream"),
  consumerWQNotUnique: () => e(400, 10100, "filtered consumer not unique on workqueue stream"),
  consumerFilterNotSubset: () => e(400, 10093, "consumer filter subject is not a valid subset of the interest subjects"),
  consumerPullRequiresAck: () => e(400, 10084, "consumer in pull mode requires ack policy"),
  consumerDeliverCycle: () => e(400, 10081, "consumer deliver subject forms a cycle"),
  consumerMaxPendingAckPolicyRequired: () => e(400, 10082, "consumer requires ack policy for max ack pending"),
  consumerSmallHeartbeat: () => e(400, 10083, "consumer idle heartbeat needs to be >= 100ms"),
  consumerMaxWaitingNegative: () => e(400, 10087, "consumer max waiting needs to be positive"),
  consumerHBRequiresPush: () => e(400, 10088, "consumer idle heartbeat requires a push based consumer"),
  consumerFCRequiresPush: () => e(400, 10089, "consumer flow control requires a push based consumer"),
  consumerFCRequiresHB: () => e(400, 10108, "consumer with flow control also needs heartbeats"),
  consumerPushMaxWaiting: () => e(400, 10080, "consumer in push mode can not set max waiting"),
  consumerDeliverToWildcards: () => e(400, 10079, "consumer deliver subject has wildcards"),
  consumerMaxDeliverBackoff: () => e(400, 10116, "max deliver is required to be > length of backoff values"),
  consumerNameTooLong: (max: number) => e(400, 10102, `consumer name is too long, maximum allowed is ${max}`),
  consumerBadDurableName: () => e(400, 10103, "durable name can not contain '.', '*', '>'"),
  consumerExistingActive: () => e(400, 10105, "consumer already exists and is still active"),
  consumerReplacementWithDifferentName: () => e(400, 10106, "consumer replacement durable config not the same"),
  maximumConsumersLimit: () => e(400, 10026, "maximum consumers limit reached"),
  maximumStreamsLimit: () => e(400, 10027, "maximum number of streams reached"),
  storageResourcesExceeded: () => e(500, 10047, "insufficient storage resources available"),
  memoryResourcesExceeded: () => e(500, 10028, "insufficient memory resources available"),
  insufficientResources: () => e(503, 10023, "insufficient resources"),
  /** A cluster without a meta leader (or a stream without a leader): nats-server 2.9 answers this meanwhile. */
  clusterNotAvailable: () => e(503, 10008, "JetStream system temporarily unavailable"),
  accountResourcesExceeded: () => e(400, 10002, "resource limits exceeded for account"),
  notEnabledForAccount: () => e(503, 10039, "JetStream not enabled for account"),
} as const;
