import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { BUCKETS } from "../../subjects/names.js";
import type { Envelope } from "../../subjects/envelope-core.js";
import { verifyEnvelope, type Verdict } from "../../subjects/signing.js";
import type { Logger } from "../base/log.js";

const CACHE_MS = 30_000;

/**
 * In a secure mesh (the mesh-identities registry has entries) every inbox message must carry a
 * valid signature of its `from` identity. Keys are cached for 30 s, so a revocation or a new
 * identity applies within that time. Returns undefined on an open mesh (no registry).
 */
export async function senderVerifier(nc: NatsConnection, log: Logger): Promise<((env: Envelope) => Promise<Verdict>) | undefined> {
  let kv: KV;
  try {
    kv = await new Kvm(nc).open(BUCKETS.identities);
    const keys = await kv.keys();
    let any = false;
    for await (const _ of keys) {
      any = true;
      break;
    }
    if (!any) return undefined;
  } catch {
    return undefined;
  }
  log.info("secure mesh: verifying the sender of every inbox message");
  const cache = new Map<string, { key: string | undefined; at: number }>();
  return async (env) => {
    let hit = cache.get(env.from);
    if (!hit || Date.now() - hit.at > CACHE_MS) {
      const e = await kv.get(env.from).catch(() => null);
      let key: string | undefined;
      if (e && e.operation === "PUT") {
        try {
          key = (JSON.parse(e.string()) as { publicKey?: string }).publicKey;
        } catch {
          key = undefined;
        }
      }
      hit = { key, at: Date.now() };
      cache.set(env.from, hit);
    }
    return verifyEnvelope(env, hit.key);
  };
}
