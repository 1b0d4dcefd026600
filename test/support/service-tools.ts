/**
 * Stand-ins for the service managers a test machine does not run: a container has no systemd user
 * manager (`systemctl --user is-active` cannot reach one) and Linux has no launchd. Each is a shell
 * script put first on PATH that answers what the real tool prints. `systemd-analyze verify` is
 * never stood in for: the tests use the real one.
 */
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";

function script(bin: string, name: string, body: string): void {
  writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`);
  chmodSync(join(bin, name), 0o755);
}

/**
 * `systemctl --user is-enabled|is-active <unit>` answering the given states with systemctl's exit
 * codes (0 for enabled/active, 1 for a unit that is not enabled, 3 for one that is not active).
 */
export function fakeSystemctl(bin: string, state: { enabled: string; active: string }): void {
  script(
    bin,
    "systemctl",
    `case "$2" in
  is-enabled) echo ${state.enabled}; [ ${state.enabled} = enabled ] && exit 0 || exit 1 ;;
  is-active) echo ${state.active}; [ ${state.active} = active ] && exit 0 || exit 3 ;;
  *) exit 0 ;;
esac`,
  );
}

/**
 * `plutil -lint <file>` done by Python's plist parser (plistlib): "<file>: OK" and exit 0, or
 * "<file>: <the parser's error>" and exit 1, as plutil prints.
 */
export function plutilStandIn(bin: string): void {
  script(
    bin,
    "plutil",
    `exec python3 -c '
import plistlib, sys
f = sys.argv[2]
try:
    plistlib.load(open(f, "rb"))
except Exception as e:
    print(f + ": " + str(e)); sys.exit(1)
print(f + ": OK")' "$@"`,
  );
}

/**
 * `launchctl print gui/<uid>/<label>`: not loaded (exit 113 with launchctl's message), or loaded
 * with a state (and a pid when running), in launchctl's "key = value" layout.
 */
export function fakeLaunchctl(bin: string, service: { loaded: false } | { loaded: true; state: string; pid?: number }): void {
  if (!service.loaded) {
    script(bin, "launchctl", `echo "Could not find service \\"$(basename "$2")\\" in domain for port" >&2\nexit 113`);
    return;
  }
  script(
    bin,
    "launchctl",
    `cat <<EOF
$2 = {
	active count = ${service.pid ? 1 : 0}
	state = ${service.state}
	program = /usr/local/bin/node
${service.pid ? `	pid = ${service.pid}\n` : ""}	endpoints = {
		state = active
	}
}
EOF`,
  );
}
