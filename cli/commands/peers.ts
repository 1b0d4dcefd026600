/** `mesh peers`: every identity on the mesh. register() declares it; the action loads what it runs. */
import type { Command } from "@commander-js/extra-typings";
import { formatDuration } from "../../src/base/duration.js";
import type { GlobalOptions } from "../../src/config/config.js";
import { MeshError } from "../../src/base/errors.js";
import { jsonFlag, printJson, configFor, run, selfIdentity, withConnection } from "./common.js";

export function register(program: Command): void {
  program
    .command("peers")
    .description("list every identity on the mesh as online / stale / offline")
    .addOption(jsonFlag("print the peers as JSON (leaf mode: the link is in `mesh doctor --json`)"))
    .addHelpText(
      "after",
      "\nIn leaf mode the first line is this Mac's link to the hub and what waits to cross it; with the hub\n" +
        "away it prints that line and exits 3 (the other Macs' presence is kept on the hub).",
    )
    .action(run(peers));
}

async function peers(opts: GlobalOptions & { json?: boolean }): Promise<void> {
  const { listPeers } = await import("../../src/features/presence/presence.js");
  const r = await configFor(opts);
  const leaf = r.config.leaf;
  const [list, link] = await withConnection(r, async (nc) => {
    if (!leaf) return [await listPeers(nc), undefined] as const;
    // Leaf mode: the link first (answered at once offline); presence of the other Macs lives on the hub.
    const { describeLink, linkState } = await import("../../src/ops/leaf-link.js");
    const link = await linkState(nc, leaf.mac, leaf.stateDir, [selfIdentity(r)]);
    if (!link.connected) throw new MeshError(`${describeLink(link)}: the presence of the other Macs is kept on the hub, so it cannot be listed now`, 3);
    return [await listPeers(nc), link] as const;
  });
  if (opts.json) return printJson(list);
  if (link) {
    const { describeLink } = await import("../../src/ops/leaf-link.js");
    process.stdout.write(`this Mac (${leaf!.mac}): ${describeLink(link)}\n`);
  }
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
