/**
 * Templates for hook actions: `{{path}}` is replaced by a field of the event, e.g. `{{from}}`,
 * `{{type}}`, `{{subject}}`, `{{body.reason}}`, `{{json}}` (the whole envelope). Checked when the
 * config loads: unknown roots and unbalanced braces are errors.
 */
export const TEMPLATE_ROOTS = ["id", "from", "to", "time", "kind", "type", "body", "subject", "json"] as const;

const PLACEHOLDER = /\{\{\s*([a-zA-Z0-9_.-]+)\s*\}\}/g;

export function checkTemplate(t: string): string | undefined {
  const stripped = t.replace(PLACEHOLDER, "");
  if (stripped.includes("{{") || stripped.includes("}}")) return "unbalanced {{ }}";
  for (const m of t.matchAll(PLACEHOLDER)) {
    const root = (m[1] as string).split(".")[0] as string;
    if (!(TEMPLATE_ROOTS as readonly string[]).includes(root)) {
      return `unknown field {{${m[1]}}} (use ${TEMPLATE_ROOTS.map((r) => `{{${r}}}`).join(", ")} or {{body.<field>}})`;
    }
  }
  return undefined;
}

export function lookup(ctx: Record<string, unknown>, path: string): unknown {
  let cur: unknown = ctx;
  for (const part of path.split(".")) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

export function render(t: string, ctx: Record<string, unknown>): string {
  return t.replace(PLACEHOLDER, (_, path: string) => {
    const v = path === "json" ? ctx : lookup(ctx, path);
    if (v === undefined || v === null) return "";
    return typeof v === "string" ? v : JSON.stringify(v);
  });
}
