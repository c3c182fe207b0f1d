/**
 * The system account's subjects: what its services answer (`$SYS.REQ.*`, nats-server 2.9's names) and where its
 * events go. Loaded at every start (the services subscribe to the requests then); the rest loads on first use.
 */

/** `$SYS.REQ.SERVER.PING.<name>` and `$SYS.REQ.SERVER.<id>.<name>`: each answers with the endpoint of its name. */
export const SERVER_ENDPOINT_NAMES = ["STATSZ", "VARZ", "CONNZ", "SUBSZ", "ROUTEZ", "GATEWAYZ", "LEAFZ", "JSZ", "HEALTHZ", "ACCOUNTZ"] as const;

/** `$SYS.REQ.ACCOUNT.<acc>.<name>`, as nats-server 2.9 has them. */
export const ACCOUNT_ENDPOINTS = ["SUBSZ", "CONNZ", "LEAFZ", "JSZ", "INFO", "CONNS", "STATZ"] as const;
export type AccountEndpoint = typeof ACCOUNT_ENDPOINTS[number];

export const subjects = {
  connect: (acc: string) => `$SYS.ACCOUNT.${acc}.CONNECT`,
  disconnect: (acc: string) => `$SYS.ACCOUNT.${acc}.DISCONNECT`,
  accountConns: (acc: string) => `$SYS.ACCOUNT.${acc}.SERVER.CONNS`,
  /** The older subject nats-server still publishes alongside. */
  accountConnsOld: (acc: string) => `$SYS.SERVER.ACCOUNT.${acc}.CONNS`,
  statsz: (serverId: string) => `$SYS.SERVER.${serverId}.STATSZ`,
  shutdown: (serverId: string) => `$SYS.SERVER.${serverId}.SHUTDOWN`,
  authError: (serverId: string) => `$SYS.SERVER.${serverId}.CLIENT.AUTH.ERR`,
};
