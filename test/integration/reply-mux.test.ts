/**
 * src/bus/reply-mux.ts against a real nats-server: the sidecar's hot path (its events' PubAcks and
 * its inbox deletes) answered on one subscription, with the same outcomes and error classes as
 * nats.js's own `js.publish` and `jsm.streams.deleteMessage`.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { errors, type NatsConnection } from "@nats-io/nats-core";
import { JetStreamApiError, jetstreamManager } from "@nats-io/jetstream";
import { deleteStored, ReplyMux } from "../../src/bus/reply-mux.js";
import { isNotFound } from "../../src/base/nats-errors.js";
import { encodeEnvelope, eventSubject, newEnvelope } from "../../subjects/mod.js";
import { STREAMS } from "../../subjects/names.js";
import { startMesh, type TestMesh } from "../support/mesh.js";

let m: TestMesh;
let nc: NatsConnection;
let mux: ReplyMux;

beforeAll(async () => {
  m = await startMesh();
  nc = m.nc;
  mux = new ReplyMux(nc, 2_000);
});

afterAll(async () => {
  mux?.close();
  await m?.stop();
});

describe("ReplyMux (one reply subscription for the sidecar's publishes and deletes)", () => {
  it("publish: 200 concurrent publishes to EVENTS each get their own sequence back, and the stream holds each of them once", async () => {
    const jsm = await jetstreamManager(nc);
    const before = (await jsm.streams.info(STREAMS.events)).state.last_seq;
    const acks = await Promise.all(
      Array.from({ length: 200 }, (_, i) => {
        const env = newEnvelope({ from: "muxer", to: "*", kind: "event", type: "job.started", body: { jobId: String(i), queue: "q", attempt: 1 } });
        return mux.publish(eventSubject("muxer", "job", "started"), encodeEnvelope(env), env.id);
      }),
    );
    expect(acks.every((a) => a.stream === STREAMS.events && !a.duplicate)).toBe(true);
    const seqs = acks.map((a) => a.seq).sort((a, b) => a - b);
    expect(new Set(seqs).size).toBe(200);
    expect(seqs[0]).toBe(before + 1);
    expect(seqs[199]).toBe(before + 200);
  });

  it("publish: the same Nats-Msg-Id twice is acknowledged as a duplicate with the first one's sequence", async () => {
    const env = newEnvelope({ from: "muxer", to: "*", kind: "event", type: "job.started", body: { jobId: "dup", queue: "q", attempt: 1 } });
    const first = await mux.publish(eventSubject("muxer", "job", "started"), encodeEnvelope(env), env.id);
    const again = await mux.publish(eventSubject("muxer", "job", "started"), encodeEnvelope(env), env.id);
    expect(again).toEqual({ stream: first.stream, seq: first.seq, duplicate: true });
  });

  it("publish to a subject no stream captures: nats.js's NoRespondersError naming the subject, at once", async () => {
    const t0 = Date.now();
    const err = await mux.publish("nostream.here", new Uint8Array([1]), "x1").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(errors.NoRespondersError);
    expect((err as InstanceType<typeof errors.NoRespondersError>).subject).toBe("nostream.here");
    // Not the mux's 2 s timeout: the server's 503 came back.
    expect(Date.now() - t0).toBeLessThan(1_900);
  });

  it("deleteStored: removes the message; deleting it again is the server's JetStreamApiError 'sequence <n> not found', and from a stream that does not exist 'stream not found' (isNotFound)", async () => {
    const env = newEnvelope({ from: "muxer", to: "*", kind: "event", type: "job.started", body: { jobId: "del", queue: "q", attempt: 1 } });
    const { seq } = await mux.publish(eventSubject("muxer", "job", "started"), encodeEnvelope(env), env.id);
    // One more after it, so the deleted sequence lies inside the stream (past its end the text differs).
    const after = newEnvelope({ from: "muxer", to: "*", kind: "event", type: "job.started", body: { jobId: "after", queue: "q", attempt: 1 } });
    await mux.publish(eventSubject("muxer", "job", "started"), encodeEnvelope(after), after.id);
    await deleteStored(mux, STREAMS.events, seq);
    const jsm = await jetstreamManager(nc);
    const gone = await jsm.streams.getMessage(STREAMS.events, { seq }).catch((e: unknown) => e);
    expect(gone === null || isNotFound(gone)).toBe(true);
    const again = await deleteStored(mux, STREAMS.events, seq).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(JetStreamApiError);
    // The server's text (its err_code for it differs across nats-server versions).
    expect((again as JetStreamApiError).message).toBe(`sequence ${seq} not found`);
    const noStream = await deleteStored(mux, "NO-SUCH-STREAM", 1).catch((e: unknown) => e);
    expect(noStream).toBeInstanceOf(JetStreamApiError);
    expect((noStream as JetStreamApiError).message).toBe("stream not found");
    expect(isNotFound(noStream)).toBe(true);
  });

  it("a request no one answers times out with nats.js's TimeoutError after the mux's timeout (2 s here), and close() fails what still waits", async () => {
    // A plain subscriber that never replies: no 503, so only the timeout ends the wait.
    const silent = nc.subscribe("mux.silent");
    const t0 = Date.now();
    const err = await mux.request("mux.silent", new Uint8Array([1])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(errors.TimeoutError);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(2_000);
    const other = new ReplyMux(nc, 60_000);
    const pending = other.request("mux.silent", new Uint8Array([2])).catch((e: unknown) => e);
    other.close();
    expect(await pending).toBeInstanceOf(errors.ClosedConnectionError);
    silent.unsubscribe();
  });
});
