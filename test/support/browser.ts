import { existsSync } from "node:fs";
import { chromium, type Browser } from "playwright-core";

/** Debian's Chromium (apt-get install chromium), driven by playwright-core: no browser download. */
export const CHROMIUM = process.env.MESH_CHROMIUM ?? "/usr/bin/chromium";
const ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"];

/** Launches it; a missing browser is an error that says how to install it (never a skip). */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: apt-get install -y chromium (or set MESH_CHROMIUM)`);
  return chromium.launch({ executablePath: CHROMIUM, args: ARGS });
}

/** The environment for a CLI child: no MESH_* from the caller's shell, plus what is given. */
export function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of ["MESH_SERVER", "MESH_CREDS", "MESH_IDENTITY", "MESH_CONFIG"]) delete env[k];
  return { ...env, MESH_LOG_LEVEL: "warn", ...extra };
}
