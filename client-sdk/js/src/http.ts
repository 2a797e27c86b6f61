/**
 * Talking to a gateway: the client error type, with a kind for each thing a caller may handle
 * (as the Rust SDK's `Error`), and the mapping of a gateway's answer to it.
 * @module
 */

import { SealgateError } from "./errors.js";

/** The `fetch` this package calls; the global one unless the caller passes another. */
export type Fetch = (input: string, init?: RequestInit) => Promise<Response>;

/** The kinds of {@link ClientError}, as the Rust SDK's `Error` variants. */
export type ClientErrorKind =
  | "Transport"
  | "Gateway"
  | "Protocol"
  | "Unauthorized"
  | "MailboxNotFound"
  | "MailboxConflict"
  | "PayloadTooLarge"
  | "RateLimited"
  | "Expired"
  | "KeyNotVouched"
  | "SignInRequestMismatch"
  | "IdToken"
  | "NotText"
  | "InvalidUrl";

const MESSAGES: Record<ClientErrorKind, string> = {
  Transport: "cannot reach the gateway",
  Gateway: "the gateway answered with an error",
  Protocol: "unexpected answer from the gateway",
  Unauthorized: "the gateway refused the client credentials",
  MailboxNotFound: "no such mailbox (unknown, expired, cancelled or already consumed)",
  MailboxConflict: "the mailbox already holds a different envelope: someone else answered this sign-in request first (a possibly hijacked sign-in)",
  PayloadTooLarge: "the envelope is larger than the gateway accepts",
  RateLimited: "the gateway is rate limiting",
  Expired: "the sign-in request expired",
  KeyNotVouched: "the gateway serves no key with the thumbprint the sign-in request vouches for; refusing to seal",
  SignInRequestMismatch: "the gateway's sign-in request does not match this app's key, client or mailbox",
  IdToken: "the ID token failed verification",
  NotText: "the opened token is not UTF-8 text",
  InvalidUrl: "invalid URL",
};

/** What went wrong talking to a gateway. */
export class ClientError extends SealgateError {
  declare readonly kind: ClientErrorKind;
  /** The HTTP status, for answers from the gateway. */
  readonly status?: number;
  /** The problem `type`, when the answer was problem+json. */
  readonly problemType?: string;

  /** An error of `kind`; `detail` says more (a reason, a status detail). */
  constructor(kind: ClientErrorKind, detail?: string | number, extra: { status?: number; problemType?: string } = {}) {
    super(kind, detail === undefined ? MESSAGES[kind] : `${MESSAGES[kind]}: ${detail}`, detail);
    this.status = extra.status;
    this.problemType = extra.problemType;
  }
}

/** Seconds since the Unix epoch. */
export function nowSecs(): number {
  return Math.floor(Date.now() / 1000);
}

/** A gateway base URL without its trailing slash, checked to be http(s). */
export function baseUrl(url: string): string {
  const trimmed = url.replace(/\/+$/, "");
  let ok = /^https?:\/\//.test(trimmed) && !/[?#]/.test(trimmed);
  try {
    new URL(trimmed);
  } catch {
    ok = false;
  }
  if (!ok) throw new ClientError("InvalidUrl", url);
  return trimmed;
}

/** `Retry-After` in seconds, if present and numeric. */
export function retryAfter(response: Response): number | undefined {
  const value = response.headers.get("retry-after")?.trim();
  return value !== undefined && /^[0-9]+$/.test(value) ? Number(value) : undefined;
}

/** The error for an answer the caller did not expect, mapping the statuses every route shares. */
export async function errorFromResponse(response: Response): Promise<ClientError> {
  const text = await response.text().catch(() => "");
  let problem: { type?: unknown; detail?: unknown } | undefined;
  try {
    problem = JSON.parse(text);
  } catch {
    problem = undefined;
  }
  const problemType = typeof problem?.type === "string" ? problem.type : undefined;
  const detail = typeof problem?.detail === "string" ? problem.detail : text.slice(0, 200);
  switch (response.status) {
    case 401:
      return new ClientError("Unauthorized", undefined, { status: 401, problemType });
    case 404:
      return new ClientError("MailboxNotFound", undefined, { status: 404, problemType });
    case 409:
      return new ClientError("MailboxConflict", undefined, { status: 409, problemType });
    case 413:
      return new ClientError("PayloadTooLarge", undefined, { status: 413, problemType });
    case 429:
      return new ClientError("RateLimited", retryAfter(response) ?? 1, { status: 429, problemType });
    default:
      return new ClientError("Gateway", `${response.status}: ${detail}`, { status: response.status, problemType });
  }
}

/**
 * One request with a timeout (milliseconds); a network failure or a timeout is a `Transport`
 * error, which the retry loops ride out.
 */
export async function send(fetchImpl: Fetch, url: string, init: RequestInit, timeoutMs: number): Promise<Response> {
  try {
    return await fetchImpl(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  } catch (error) {
    throw new ClientError("Transport", error instanceof Error ? error.message : String(error));
  }
}
