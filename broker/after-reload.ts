/**
 * Admin work right after a config reload (SIGHUP, what `mesh identity add`, `broker init` and
 * `broker add-mac` send). On a reload that changes users, nats-server 2.9 closes the internal client
 * that holds the JetStream API subscriptions and makes a new one (nats-server#1736, #1756): for that
 * moment every JetStream API request has no responders, which nats.js reports as JetStreamNotEnabled.
 * It happened in CI: a stream create right after the reload failed with "jetstream is not enabled".
 * (nats.js exports that error class only from its /internal entry.) The provisioning steps are idempotent, so the step is run again until the API answers.
 */
import { jserrors } from "@nats-io/jetstream/internal";

/** How long the JetStream API may stay away after a reload before the step fails with its own error. */
export const RELOAD_SETTLE_MS = 30_000;

/** Runs `step`; while it fails with JetStreamNotEnabled (the API gone for the reload), runs it again every 100 ms up to `withinMs`. */
export async function retryWhileReloading<T>(step: () => Promise<T>, withinMs = RELOAD_SETTLE_MS): Promise<T> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    try {
      return await step();
    } catch (err) {
      if (!(err instanceof jserrors.JetStreamNotEnabled) || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
