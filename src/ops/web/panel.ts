/**
 * What every panel of the web view shares: rows kept under a cap, what changed since the last
 * drain (one SSE batch), and reading what arrives (an envelope, a KV value) or recording it as
 * unreadable. The caps of all panels come from one options object ({@link WebCaps}).
 */
import type { z } from "zod";
import { safeJson } from "../../base/json.js";
import { parseEnvelope, type Envelope } from "../../../subjects/mod.js";

/** How much the web view keeps, per panel (the page caps its own copy lower). */
export interface WebCaps {
  /** Messages in the flows panel. @defaultValue 100 */
  flows: number;
  /** Job records. @defaultValue 200 */
  jobs: number;
  /** Activity rows (events, unreadable ones). @defaultValue 100 */
  activity: number;
  /** Dead letters. @defaultValue 50 */
  deadLetters: number;
  /** Alerts. @defaultValue 50 */
  alerts: number;
  /** Message bodies kept for the owner to reveal. @defaultValue 500 */
  bodies: number;
  /** Envelope ids remembered so a replayed and a live copy count once. @defaultValue 20000 */
  seenIds: number;
}

export const DEFAULT_CAPS: Readonly<WebCaps> = { flows: 100, jobs: 200, activity: 100, deadLetters: 50, alerts: 50, bodies: 500, seenIds: 20_000 };

/** Records what arrived but cannot be shown (counted, listed as an unreadable event). */
export type Unreadable = (subject: string, size: number, why: string, at?: Date) => void;

/** The envelope in `data`, or undefined once it is recorded as unreadable. */
export function readEnvelope(subject: string, data: Uint8Array, unreadable: Unreadable, at?: Date): Envelope | undefined {
  try {
    return parseEnvelope(data);
  } catch (err) {
    unreadable(subject, data.length, (err as Error).message, at);
    return undefined;
  }
}

/** A KV value checked against its schema, or undefined once it is recorded as unreadable. */
export function readValue<S extends z.ZodType>(schema: S, value: string, subject: string, why: string, unreadable: Unreadable): z.infer<S> | undefined {
  const parsed = schema.safeParse(safeJson(value));
  if (parsed.success) return parsed.data;
  unreadable(subject, value.length, why);
  return undefined;
}

/**
 * Rows by key, in the order of their last change (newest last), at most `cap` of them; and which
 * changed or went since the last drain. When full the oldest goes: the least recently changed,
 * or the first by `evictFirst`. An evicted row is announced as removed only with
 * `announceEvictions` (otherwise the page caps its own copy the same way).
 */
export class KeyedRows<T> {
  private readonly rows = new Map<string, T>();
  private changed = new Set<string>();
  private removed = new Set<string>();

  constructor(private readonly opts: { cap?: number; evictFirst?: (a: T, b: T) => number; announceEvictions?: boolean } = {}) {}

  get(key: string): T | undefined {
    return this.rows.get(key);
  }

  has(key: string): boolean {
    return this.rows.has(key);
  }

  get size(): number {
    return this.rows.size;
  }

  keys(): string[] {
    return [...this.rows.keys()];
  }

  values(): T[] {
    return [...this.rows.values()];
  }

  /** Puts the row last; `changed: false` keeps it out of the next batch (nothing the page shows moved). */
  put(key: string, row: T, changed = true): void {
    this.rows.delete(key);
    this.rows.set(key, row);
    this.removed.delete(key);
    if (changed) this.changed.add(key);
    while (this.opts.cap !== undefined && this.rows.size > this.opts.cap) {
      const oldest = this.oldest();
      if (oldest === undefined) break;
      if (this.opts.announceEvictions) this.remove(oldest);
      else {
        this.rows.delete(oldest);
        this.changed.delete(oldest);
      }
    }
  }

  remove(key: string): boolean {
    if (!this.rows.delete(key)) return false;
    this.changed.delete(key);
    this.removed.add(key);
    return true;
  }

  get dirty(): boolean {
    return this.changed.size + this.removed.size > 0;
  }

  /** The rows changed and the keys removed since the last drain; then starts afresh. */
  drain(): { rows?: T[]; removed?: string[] } {
    const out: { rows?: T[]; removed?: string[] } = {};
    if (this.changed.size) out.rows = [...this.changed].map((k) => this.rows.get(k)).filter((x): x is T => x !== undefined);
    if (this.removed.size) out.removed = [...this.removed];
    this.changed = new Set();
    this.removed = new Set();
    return out;
  }

  private oldest(): string | undefined {
    if (!this.opts.evictFirst) return this.rows.keys().next().value;
    let first: [string, T] | undefined;
    for (const e of this.rows) if (!first || this.opts.evictFirst(e[1], first[1]) < 0) first = e;
    return first?.[0];
  }
}

/** A list that only grows at its end, keeping the newest `cap`; and what was added since the last drain. */
export class FeedRows<T> {
  private readonly rows: T[] = [];
  private added: T[] = [];

  constructor(private readonly cap: number) {}

  push(row: T): void {
    this.rows.push(row);
    if (this.rows.length > this.cap) this.rows.splice(0, this.rows.length - this.cap);
    this.added.push(row);
    if (this.added.length > this.cap * 2) this.added.splice(0, this.added.length - this.cap);
  }

  values(): T[] {
    return [...this.rows];
  }

  get dirty(): boolean {
    return this.added.length > 0;
  }

  /** The newest `cap` rows added since the last drain (undefined: none). */
  drain(): T[] | undefined {
    if (this.added.length === 0) return undefined;
    const out = this.added.slice(-this.cap);
    this.added = [];
    return out;
  }
}

/** Ids seen lately (at most `cap`, the oldest forgotten first). */
export class RecentIds {
  private readonly ids = new Set<string>();

  constructor(private readonly cap: number) {}

  /** True the first time an id is seen. */
  firstTime(id: string): boolean {
    if (this.ids.has(id)) return false;
    this.ids.add(id);
    if (this.ids.size > this.cap) {
      const first = this.ids.values().next().value;
      if (first !== undefined) this.ids.delete(first);
    }
    return true;
  }
}
