import { closeSync, fsync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync, writeSync } from "node:fs";
import { dirname } from "node:path";

/**
 * What this sidecar has handed to its gateway, by message id, on local disk. Written right after
 * the gateway accepted a message (synchronously: from then on the id survives this process dying),
 * and fsynced before the broker ack, so a crash between the two finds the id here on redelivery and
 * acks without delivering again.
 *
 * Group commit: `record` writes at once and resolves at the next fsync, which covers every id
 * written before it started; ids recorded while an fsync is under way share the next one. The
 * caller need not wait for the fsync to hand the sender's next message over, only to ack.
 * Keeps the newest `capacity` ids; the file is compacted past twice that.
 */
export class DeliveredJournal {
  private readonly ids = new Set<string>();
  private fd: number;
  private lines = 0;
  private pending: Array<(err?: Error) => void> = [];
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

  /**
   * Writes the id now (throws if it cannot) and resolves once it is fsynced. An id already here
   * resolves at the next fsync too (it may have been written and not yet synced).
   */
  record(id: string): Promise<void> {
    if (!this.ids.has(id)) {
      writeSync(this.fd, `${id}\n`);
      this.ids.add(id);
      this.lines++;
      if (this.ids.size > this.capacity) {
        const oldest = this.ids.values().next().value;
        if (oldest !== undefined) this.ids.delete(oldest);
      }
    }
    return new Promise((resolve, reject) => {
      this.pending.push((err) => (err ? reject(err) : resolve()));
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    while (this.pending.length > 0) {
      // Everything in this batch was written before this fsync starts, so it covers them all.
      const batch = this.pending.splice(0);
      try {
        await new Promise<void>((res, rej) => fsync(this.fd, (err) => (err ? rej(err) : res())));
        for (const done of batch) done();
      } catch (err) {
        for (const done of batch) done(err as Error);
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
