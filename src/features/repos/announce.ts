import type { NatsConnection } from "@nats-io/nats-core";
import { eventSubject, newEnvelope, type EventBody } from "../../../subjects/mod.js";
import { publishEnvelope, type Published } from "../../bus/publish.js";

/** Publishes `events.<self>.git.pushed` (signed like every envelope when the connection has an nkey). */
export async function announcePush(nc: NatsConnection, self: string, body: EventBody<"git.pushed">): Promise<Published> {
  const env = newEnvelope({ from: self, to: "*", kind: "event", type: "git.pushed", body });
  return publishEnvelope(nc, eventSubject(self, "git", "pushed"), env);
}
