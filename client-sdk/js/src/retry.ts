/**
 * Retrying a request to the gateway, as the Rust SDK's `retry.rs`: exponential backoff with up
 * to 25 % jitter, at least the gateway's `Retry-After`, never past the sign-in's expiry.
 * @module
 */

import { ClientError, nowSecs } from "./http.js";

/** The largest jitter, as a fraction of the backoff step. */
const MAX_JITTER = 0.25;

/** How a caller backs off (milliseconds). */
export interface Backoff {
  /** The step after the first failure. */
  firstMs: number;
  /** The longest step, before jitter. */
  maxStepMs: number;
  /** The most failures in a row before giving up with the last one's error; `undefined`: until the deadline. */
  maxFailures?: number;
}

/** What one attempt came to. */
export type Attempt<T> =
  | { done: T }
  /** Not there yet and nothing failed (a long-poll that ended empty): again after `pauseMs`, backoff afresh. */
  | { againMs: number }
  /** Failed in a way that is safe to retry (a connection failure, 429, 503). */
  | { failed: ClientError; retryAfterSecs?: number };

/**
 * The wait (ms) before the next attempt after `failures` (≥ 1) failures in a row, given the
 * gateway's `Retry-After` (seconds) and a jitter fraction in `[0, 1)`.
 */
export function delay(backoff: Backoff, failures: number, retryAfterSecs: number | undefined, jitter: number): number {
  const exponent = Math.min(Math.max(failures - 1, 0), 16);
  const step = Math.min(backoff.firstMs * 2 ** exponent, backoff.maxStepMs);
  const jittered = step + step * MAX_JITTER * Math.min(Math.max(jitter, 0), 1);
  return Math.max(jittered, (retryAfterSecs ?? 0) * 1000);
}

/**
 * Runs `attempt` until it is done, waiting between attempts as {@link delay} says, never past
 * `deadline` (seconds since the epoch): at the deadline, an `Expired` error. An error thrown by
 * `attempt` ends the loop.
 */
export async function retry<T>(backoff: Backoff, deadline: number, attempt: () => Promise<Attempt<T>>, sleep: (ms: number) => Promise<void> = defaultSleep): Promise<T> {
  let failures = 0;
  for (;;) {
    if (nowSecs() >= deadline) throw new ClientError("Expired");
    const outcome = await attempt();
    let pause: number;
    if ("done" in outcome) return outcome.done;
    if ("againMs" in outcome) {
      failures = 0;
      pause = outcome.againMs;
    } else {
      failures += 1;
      if (backoff.maxFailures !== undefined && failures >= backoff.maxFailures) throw outcome.failed;
      pause = delay(backoff, failures, outcome.retryAfterSecs, Math.random());
    }
    const left = Math.max(deadline * 1000 - Date.now(), 0);
    await sleep(Math.min(pause, left));
  }
}

function defaultSleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
