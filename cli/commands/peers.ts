import { listPeers } from "../../src/features/presence/presence.js";
import { formatDuration } from "../../src/base/duration.js";
import type { GlobalOptions } from "../../src/config/config.js";
import { printJson, resolved, withConnection } from "./common.js";

export async function peers(opts: GlobalOptions & { json?: boolean }): Promise<void> {
  const r = await resolved(opts);
  const list = await withConnection(r, (nc) => listPeers(nc));
  if (opts.json) return printJson(list);
  if (list.length === 0) {
    process.stdout.write("no peers yet (start a sidecar with `mesh sidecar` or `mesh up`)\n");
    return;
  }
  const rows = list.map((p) => [
    p.identity,
    p.state,
    p.presence?.host ?? "-",
    p.presence ? `gateway ${p.presence.gateway}` : "-",
    p.presence?.capabilities.join(",") || "-",
    p.ageMs !== undefined ? `seen ${formatDuration(p.ageMs)} ago` : "-",
    p.inbox ? `${p.inbox.waiting} waiting` : "-",
  ]);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const row of rows) process.stdout.write(`${row.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd()}\n`);
}
