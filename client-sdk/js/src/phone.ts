/**
 * The phone side: parse the sign-in request, refuse a key the app did not vouch for, seal the
 * ID token bound to the client, mailbox and expiry, deposit it with idempotent retries.
 * @module
 */

import { seal } from "./envelope.js";
import { SignInRequestError } from "./errors.js";
import { ClientError, errorFromResponse, type Fetch, retryAfter, send } from "./http.js";
import { parseJwks } from "./jwk.js";
import { type Attempt, type Backoff, retry } from "./retry.js";
import { SignInRequest } from "./signin.js";

/** Time allowed for one request, ms. */
const REQUEST_TIMEOUT_MS = 10_000;

/** Backoff between deposit attempts: from 250 ms, doubling up to 4 s, six attempts at most. */
const DEPOSIT_BACKOFF: Backoff = { firstMs: 250, maxStepMs: 4_000, maxFailures: 6 };

/** What a successful deposit did: `stored` (201), or `alreadyStored` (200, an earlier attempt had succeeded). */
export type Deposited = "stored" | "alreadyStored";

/** Options of {@link sendToken}. */
export interface SendOptions {
  /** The `fetch` to use; the global one by default. */
  fetch?: Fetch;
  /** The time the request's expiry is checked against, seconds since the epoch; now by default. */
  now?: number;
}

/**
 * Sends `token` (an ID token) to the app that showed `uri`: parses the request strictly, fetches
 * the app's JWKS from the gateway, refuses (`KeyNotVouched`) unless a key has the thumbprint
 * the request vouches for, seals the token bound to the client, mailbox and expiry, and
 * deposits it — retrying the same envelope on connection failures, 429 and 503 (honouring
 * `Retry-After`). A 409 (`MailboxConflict`) means another envelope got there first: a possibly
 * hijacked sign-in, which the phone should report to the user.
 */
export async function sendToken(uri: string | SignInRequest, token: Uint8Array | string, options: SendOptions = {}): Promise<Deposited> {
  const fetchImpl = options.fetch ?? globalThis.fetch;
  let request: SignInRequest;
  try {
    request = typeof uri === "string" ? SignInRequest.parse(uri, options.now) : uri;
  } catch (error) {
    if (error instanceof SignInRequestError && error.kind === "Expired") throw new ClientError("Expired");
    throw error;
  }
  const keys = await fetchJwks(fetchImpl, request);
  const key = keys.find((candidate) => candidate.kid === request.keyThumbprint);
  if (key === undefined) throw new ClientError("KeyNotVouched");
  const envelope = await seal(key, token, { aud: request.clientId, mbx: request.mailboxId, exp: request.expiresAt, cty: "JWT" });
  const url = request.mailboxUrl();
  return retry(DEPOSIT_BACKOFF, request.expiresAt, () => depositOnce(fetchImpl, url, envelope));
}

/** One `PUT` of the sealed envelope to the mailbox. */
async function depositOnce(fetchImpl: Fetch, url: string, envelope: string): Promise<Attempt<Deposited>> {
  let response: Response;
  try {
    response = await send(fetchImpl, url, { method: "PUT", headers: { "content-type": "application/jose" }, body: envelope }, REQUEST_TIMEOUT_MS);
  } catch (error) {
    if (error instanceof ClientError && error.kind === "Transport") return { failed: error };
    throw error;
  }
  switch (response.status) {
    case 201:
      return { done: "stored" };
    case 200:
      return { done: "alreadyStored" };
    case 429:
    case 503:
      return { failed: await errorFromResponse(response), retryAfterSecs: retryAfter(response) };
    default:
      throw await errorFromResponse(response);
  }
}

async function fetchJwks(fetchImpl: Fetch, request: SignInRequest) {
  const response = await send(fetchImpl, request.jwksUrl(), { method: "GET" }, REQUEST_TIMEOUT_MS);
  if (response.status !== 200) {
    const error = await errorFromResponse(response);
    throw error.kind === "MailboxNotFound" ? new ClientError("Protocol", "the gateway knows no such client") : error;
  }
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    throw new ClientError("Protocol", "the JWKS is not JSON");
  }
  return parseJwks(body);
}
