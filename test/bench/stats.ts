export interface Summary {
  n: number;
  p50: number;
  p99: number;
  max: number;
}

export function summarize(samples: number[]): Summary {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => (s.length ? (s[Math.min(s.length - 1, Math.floor(q * s.length))] as number) : NaN);
  return { n: s.length, p50: round(at(0.5)), p99: round(at(0.99)), max: round(s[s.length - 1] ?? NaN) };
}

export function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** A plain text table. */
export function table(rows: Array<Record<string, string | number | undefined>>): string {
  if (rows.length === 0) return "";
  const cols = Object.keys(rows[0]!);
  const cell = (v: unknown): string => (v === undefined ? "" : String(v));
  const w = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]): string => vals.map((v, i) => v.padEnd(w[i]!)).join("  ").trimEnd();
  return [line(cols), line(w.map((n) => "-".repeat(n))), ...rows.map((r) => line(cols.map((c) => cell(r[c]))))].join("\n");
}

/** Same rows as a Markdown table. */
export function markdownTable(rows: Array<Record<string, string | number | undefined>>): string {
  if (rows.length === 0) return "";
  const cols = Object.keys(rows[0]!);
  return [`| ${cols.join(" | ")} |`, `|${cols.map(() => "---").join("|")}|`, ...rows.map((r) => `| ${cols.map((c) => String(r[c] ?? "")).join(" | ")} |`)].join("\n");
}

/** Fewer samples than this and a "p99" is only the largest few: the tail is reported as the max instead. */
export const MIN_P99_N = 200;

export interface LatencyCols {
  n: number;
  p50_ms: number;
  p99_ms?: number;
  max_ms: number;
}

/** n, p50, p99 (only with at least MIN_P99_N samples) and max of latency samples in ms. */
export function latencyCols(samples: number[]): LatencyCols {
  const s = summarize(samples);
  return { n: s.n, p50_ms: s.p50, ...(s.n >= MIN_P99_N ? { p99_ms: s.p99 } : {}), max_ms: s.max };
}

/** A table's rows with p99_ms removed from every row when any row has fewer than MIN_P99_N samples (the column is then max_ms alone). */
export function tailColumns<T extends { n: number; p99_ms?: number }>(rows: T[]): T[] {
  if (rows.every((r) => r.n >= MIN_P99_N && r.p99_ms !== undefined)) return rows;
  return rows.map(({ p99_ms: _drop, ...rest }) => rest as T);
}

/** The tail of a row for a target: its p99 when it has one, else its max (named in `tail`). */
export function tailOf(r: { n: number; p99_ms?: number; max_ms: number }): { value: number; tail: "p99" | "max" } {
  return r.p99_ms !== undefined && r.n >= MIN_P99_N ? { value: r.p99_ms, tail: "p99" } : { value: r.max_ms, tail: "max" };
}

/** One target of the run, checked against what the run measured. */
export interface Target {
  scenario: string;
  target: string;
  measured: number;
  limit: number;
  met: "met" | "missed";
}

export function target(scenario: string, what: string, measured: number, op: "<=" | ">=", limit: number): Target {
  const ok = Number.isFinite(measured) && (op === "<=" ? measured <= limit : measured >= limit);
  return { scenario, target: `${what} ${op === "<=" ? "≤" : "≥"} ${round(limit)}`, measured: round(measured), limit: round(limit), met: ok ? "met" : "missed" };
}
