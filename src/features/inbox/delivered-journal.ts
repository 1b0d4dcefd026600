import { closeSync, fsync, mkdirSync, openSync, readFileSync, renameSync, write, writeFileSync } from "node:fs";
import { dirname } from "node:path";

/**
 * What this sidecar has handed to its gateway, by message id, on local disk. Written (and fsynced)
 * right after the gateway accepted a message and before the broker ack, so a crash between the two
 * finds the id here on redelivery and acks without delivering again.
 *
 * Group commit: ids recorded while a write+fsync is under way go out together in the next one, so
 * concurrent senders share fsyncs instead of queueing behind each other. `record` resolves once the
 * id is on disk. Keeps the newest `capacity` ids; the file is compacted past twice that.
 */
export class DeliveredJournal {
  private readonly ids = new Set<string>();
  private fd: number;
  private lines = 0;
  private pending: Array<{ id: string; done: (err?: Error) => void }> = [];
  private flushing = false;

  constructor(
    private readonly path: string,
    private readonly capacity = 10_000,
  ) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    let text = "";
    try {
      text = readFileSync(path, "utf8");
    } catch {
      /* first run */
    }
    const all = text.split("\n").filter((l) => l.length > 0);
    for (const id of all.slice(-capacity)) this.ids.add(id);
    this.lines = all.length;
    this.fd = openSync(path, "a", 0o600);
  }

  has(id: string): boolean {
    return this.ids.has(id);
  }

  /** Resolves when the id is durably recorded. */
  record(id: string): Promise<void> {
    if (this.ids.has(id)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.pending.push({ id, done: (err) => (err ? reject(err) : resolve()) });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0);
      const text = batch.map((b) => `${b.id}\n`).join("");
      try {
        await new Promise<void>((res, rej) => write(this.fd, text, (err) => (err ? rej(err) : res())));
        await new Promise<void>((res, rej) => fsync(this.fd, (err) => (err ? rej(err) : res())));
        for (const b of batch) {
          this.ids.add(b.id);
          this.lines++;
          if (this.ids.size > this.capacity) {
            const oldest = this.ids.values().next().value;
            if (oldest !== undefined) this.ids.delete(oldest);
          }
          b.done();
        }
      } catch (err) {
        for (const b of batch) b.done(err as Error);
      }
      if (this.lines > this.capacity * 2) this.compact();
    }
    this.flushing = false;
  }

  private compact(): void {
    const tmp = `${this.path}.tmp`;
    writeFileSync(tmp, [...this.ids].join("\n") + "\n", { mode: 0o600 });
    closeSync(this.fd);
    renameSync(tmp, this.path);
    this.fd = openSync(this.path, "a", 0o600);
    this.lines = this.ids.size;
  }

  close(): void {
    try {
      closeSync(this.fd);
    } catch {
      /* already closed */
    }
  }
}
