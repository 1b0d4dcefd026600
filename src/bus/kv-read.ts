import { Bucket, type KV, type KvEntry } from "@nats-io/kv";
import { sleep } from "../base/backoff.js";

/**
 * Reading a shared KV bucket (presence, registry, alerts, leases, sealing keys) without a consumer.
 * nats.js lists keys and watches with ordered consumers, and on nats-server 2.9 a consumer's name
 * and expiry are the client's to choose: a credential allowed to make them on a shared bucket can
 * hold any number for good. So identities get no consumer on a shared bucket
 * (broker/permissions.ts): the keys come from the stream's per-subject counts (STREAM.INFO with a
 * subject filter), the values and changes by direct get.
 */

function bucketOf(kv: KV): Bucket {
  if (!(kv instanceof Bucket)) throw new TypeError("a KV bucket opened with @nats-io/kv");
  return kv;
}

/** The keys that have a stored subject (put, deleted or purged last). */
async function storedKeys(b: Bucket): Promise<string[]> {
  const info = await b.jsm.streams.info(b.stream, { subjects_filter: `${b.prefix}.>` });
  return Object.keys(info.state.subjects ?? {}).map((s) => b.decodeKey(s.slice(b.prefix.length + 1)));
}

/** Every key whose last operation is a put, with its entry (read side by side). */
export async function liveEntries(kv: KV): Promise<KvEntry[]> {
  const b = bucketOf(kv);
  const keys = await storedKeys(b);
  const entries = await Promise.all(keys.map((k) => kv.get(k)));
  return entries.filter((e): e is KvEntry => e !== null && e.operation === "PUT");
}

/** Every key whose last operation is a put. */
export async function liveKeys(kv: KV): Promise<string[]> {
  return (await liveEntries(kv)).map((e) => e.key);
}

/** Whether the bucket stores anything at all (a put or a delete marker): one request. */
export async function storesAny(kv: KV): Promise<boolean> {
  const b = bucketOf(kv);
  return (await b.jsm.streams.info(b.stream)).state.messages > 0;
}

/**
 * The bucket's live entries, then every change as it is stored (puts, deletes, purges), until the
 * signal aborts. Changes are read by direct get from a cursor (`next_by_subj`), looked for every
 * `pollMs`; a change seen twice (between the first read and the cursor) is applied twice, which
 * setting a value makes harmless.
 */
export async function followKv(kv: KV, onEntry: (e: KvEntry) => void, signal: AbortSignal, pollMs = 1000): Promise<void> {
  const b = bucketOf(kv);
  let cursor = (await b.jsm.streams.info(b.stream)).state.last_seq + 1;
  for (const e of await liveEntries(kv)) onEntry(e);
  while (!signal.aborted) {
    const m = await b.jsm.direct.getMessage(b.stream, { seq: cursor, next_by_subj: `${b.prefix}.>` });
    if (m) {
      onEntry(b.smToEntry(m));
      cursor = m.seq + 1;
      continue;
    }
    await sleep(pollMs, signal);
  }
}
