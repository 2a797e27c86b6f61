/**
 * Receiving webhooks: verify a delivery's Standard Webhooks signature (`v1,` base64 of
 * HMAC-SHA256 over `id.timestamp.body`, secret `whsec_` + base64) and read its
 * `envelope.deposited` event, as `sealgate-crypto`'s `webhook.rs`.
 * @module
 */

import { SealgateError } from "./errors.js";

/** How far a delivery's timestamp may be from the verifier's clock, seconds. */
export const TIMESTAMP_TOLERANCE_SECS = 5 * 60;

/** The kinds of {@link WebhookError}, as Rust's `WebhookError`. */
export type WebhookErrorKind = "InvalidSecret" | "MissingHeader" | "StaleTimestamp" | "BadSignature" | "NotAnEnvelopeEvent";

/** Why a webhook secret or delivery was refused. */
export class WebhookError extends SealgateError {
  declare readonly kind: WebhookErrorKind;
  /** A webhook error of `kind`. */
  constructor(kind: WebhookErrorKind, detail?: string) {
    super(kind, `webhook refused: ${kind}${detail === undefined ? "" : ` (${detail})`}`, detail);
  }
}

/** One delivery: which mailbox of which client, and its envelope (still sealed). */
export interface Delivery {
  /** The `webhook-id`, the same on every attempt of one delivery. */
  id: string;
  clientId: string;
  mailboxId: string;
  /** The compact JWE. */
  envelope: string;
}

/** The three headers of a delivery (any object with `get`, or a plain record). */
export type WebhookHeaders = { get(name: string): string | null } | Record<string, string | undefined>;

function header(headers: WebhookHeaders, name: string): string {
  const value = typeof headers.get === "function" ? (headers as { get(n: string): string | null }).get(name) : (headers as Record<string, string | undefined>)[name];
  return value ?? "";
}

function fromBase64(text: string): Uint8Array<ArrayBuffer> | undefined {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) return undefined;
  return Uint8Array.from(atob(text), (char) => char.charCodeAt(0));
}

async function hmacKey(secret: string): Promise<CryptoKey> {
  const key = secret.startsWith("whsec_") ? fromBase64(secret.slice(6)) : undefined;
  if (key === undefined || key.length < 24 || key.length > 64) throw new WebhookError("InvalidSecret");
  return crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
}

/**
 * Verifies a delivery: the timestamp within {@link TIMESTAMP_TOLERANCE_SECS} of `now`, and at
 * least one `v1` signature made with one of `secrets` (several during a rotation), then reads
 * its `envelope.deposited` event. Pass the raw body, before any JSON parsing.
 */
export async function verifyDelivery(secrets: string[], headers: WebhookHeaders, body: Uint8Array | string, now: number = Math.floor(Date.now() / 1000)): Promise<Delivery> {
  const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body;
  const id = header(headers, "webhook-id");
  if (id === "") throw new WebhookError("MissingHeader", "id");
  const timestampText = header(headers, "webhook-timestamp").trim();
  if (!/^\+?[0-9]+$/.test(timestampText) || BigInt(timestampText) > 0xffffffffffffffffn) throw new WebhookError("MissingHeader", "timestamp");
  if (Math.abs(Number(timestampText) - now) > TIMESTAMP_TOLERANCE_SECS) throw new WebhookError("StaleTimestamp");
  const presented = header(headers, "webhook-signature")
    .split(/\s+/)
    .filter((signature) => signature.startsWith("v1,"))
    .map((signature) => fromBase64(signature.slice(3)))
    .filter((signature): signature is Uint8Array<ArrayBuffer> => signature !== undefined);
  if (presented.length === 0) throw new WebhookError("MissingHeader", "signature");
  const signed = new Uint8Array([...new TextEncoder().encode(`${id}.${BigInt(timestampText)}.`), ...bytes]);
  let matched = false;
  for (const secret of secrets) {
    const key = await hmacKey(secret);
    for (const candidate of presented) {
      // crypto.subtle.verify compares in constant time.
      matched = (await crypto.subtle.verify("HMAC", key, candidate, signed)) || matched;
    }
  }
  if (!matched) throw new WebhookError("BadSignature");
  return readEvent(id, bytes);
}

function readEvent(id: string, body: Uint8Array): Delivery {
  let event: { type?: unknown; data?: Record<string, unknown> };
  try {
    event = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body));
  } catch {
    throw new WebhookError("NotAnEnvelopeEvent");
  }
  const data = event?.data;
  const ok = event?.type === "envelope.deposited" && typeof data === "object" && data !== null && ["client_id", "mailbox_id", "envelope"].every((name) => typeof data[name] === "string");
  if (!ok) throw new WebhookError("NotAnEnvelopeEvent");
  return { id, clientId: data.client_id as string, mailboxId: data.mailbox_id as string, envelope: data.envelope as string };
}
