import { jetstreamManager, type JetStreamManager, type JsMsg } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { inboxStreamName } from "../../../subjects/names.js";
import { firstLine, isNotFound, permissionDenied } from "../../base/nats-errors.js";
import type { Logger } from "../../base/log.js";
import { deleteStored, ReplyMux } from "../../bus/reply-mux.js";
import { removeUpstreamCopy } from "./leaf-outbox.js";

/**
 * What the inbox consumer is done with (delivered or dead-lettered, then acked), removed from its
 * inbox and, in leaf mode, from upstream: best effort, never awaited by delivery.
 */
export class InboxCleanup {
  /** The broker refused a delete (permissions from before deletes were granted): not tried again. */
  private refused = false;
  /** A delete went through: the rest go through the mux. */
  private allowed = false;
  /** Deletes' replies on one subscription (reply-mux.ts). */
  private mux?: ReplyMux;
  private jsm?: JetStreamManager;

  constructor(private readonly o: { nc: NatsConnection; self: string; log: Logger; leaf?: { mac: string } }) {}

  /**
   * Deletes a message the inbox consumer is done with from its inbox (after its ack, on the same
   * connection, so the server has the ack first). The inbox keeps each sender's messages up to a
   * share (discard new): were delivered ones kept, a sender would be refused after that many
   * messages in the retention window, however promptly they were delivered. What was delivered is
   * on record in the delivered-journal and the message.delivered events. Not awaited: a delete that
   * fails leaves a delivered message behind (it counts against its sender's share until it ages out).
   * In leaf mode the copy it was sourced from goes too (leaf-outbox.ts: the shares upstream).
   */
  remove(m: Pick<JsMsg, "seq" | "headers">): void {
    const seq = m.seq;
    const mux = (this.mux ??= new ReplyMux(this.o.nc));
    if (this.o.leaf) {
      removeUpstreamCopy(mux, { mac: this.o.leaf.mac, self: this.o.self }, m.headers).catch((err: unknown) =>
        this.o.log.debug({ seq, err: firstLine(err) }, "could not remove a delivered message's upstream copy"),
      );
    }
    if (this.refused) return;
    const stream = inboxStreamName(this.o.self);
    // The first delete is nats.js's request, which learns of a permissions violation (the server
    // names no reply for it); once one is allowed, the rest share the mux's one reply subscription.
    void (this.allowed
      ? deleteStored(mux, stream, seq)
      : (async () => {
          this.jsm ??= await jetstreamManager(this.o.nc, { checkAPI: false });
          await this.jsm.streams.deleteMessage(stream, seq, false);
          this.allowed = true;
        })()
    ).catch((err: unknown) => {
      if (permissionDenied(err)) {
        this.refused = true;
        this.o.log.warn(
          { err: firstLine(err) },
          `delivered messages stay in the inbox: this identity may not delete them (its broker permissions are older than this sidecar; on the broker's machine \`mesh broker init\` renders them anew)`,
        );
      } else if (!isNotFound(err)) this.o.log.debug({ seq, err: firstLine(err) }, "could not remove a delivered message from the inbox");
    });
  }

  close(): void {
    this.mux?.close();
  }
}
