/**
 * The interest this cluster shows to other clusters: subscriptions of local clients, internal clients and
 * of the cluster's other servers (route-owned), each subject and queue group announced once (see
 * InterestCounter). Subscriptions owned by gateways are other clusters' interest and never counted.
 */
import { type Announce, type InterestEntry, InterestCounter } from "../cluster/interest.ts";

export type GatewayInterestEntry = InterestEntry;
export type GatewayAnnounce = Announce;

export class ClusterInterest extends InterestCounter {
  constructor(announce: GatewayAnnounce) {
    super(announce, { ignored: ["gateway"], weightedQueues: false });
  }
}
