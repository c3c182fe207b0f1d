/**
 * The error texts NATS Streaming clients show, as nats-streaming-server words them (applications match on
 * some of them, e.g. the duplicate durable one).
 */
export const StanErrors = {
  invalidSubject: "stan: invalid subject",
  invalidStart: "stan: invalid start position",
  invalidSub: "stan: invalid subscription",
  clientRegistered: "stan: clientID already registered",
  missingClient: "stan: clientID missing",
  invalidClientID: "stan: invalid clientID: only alphanumeric and `-` or `_` characters allowed",
  invalidAckWait: "stan: invalid ack wait time, should be >= 1s",
  invalidMaxInflight: "stan: invalid MaxInflight, should be >= 1",
  invalidConnReq: "stan: invalid connection request",
  invalidPubReq: "stan: invalid publish request",
  invalidSubReq: "stan: invalid subscription request",
  invalidUnsubReq: "stan: invalid unsubscribe request",
  invalidCloseReq: "stan: invalid close request",
  dupDurable: "stan: duplicate durable registration",
  invalidDurName: "stan: durable name of a durable queue subscriber can't contain the character ':'",
  unknownClient: "stan: unknown clientID",
  tooManyChannels: "too many channels",
  tooManySubs: "too many subscriptions per channel",
  clientReplaced: "client has been replaced or is no longer registered",
} as const;
