import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

/**
 * What this sidecar has handed to its gateway, by message id, on local disk. Written (and fsynced)
 * right after the gateway accepted a message and before the broker ack, so a crash between the two
 * finds the id here on redelivery and acks without delivering again.
 * Keeps the newest `capacity` ids; the file is compacted when it grows past twice that.
 */
export class DeliveredJournal {
  private readonly ids = new Set<string>();
  private fd: number;
  private lines = 0;

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

  record(id: string): void {
    if (this.ids.has(id)) return;
    writeSync(this.fd, `${id}\n`);
    fsyncSync(this.fd);
    this.ids.add(id);
    this.lines++;
    if (this.ids.size > this.capacity) {
      const oldest = this.ids.values().next().value;
      if (oldest !== undefined) this.ids.delete(oldest);
    }
    if (this.lines > this.capacity * 2) this.compact();
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
