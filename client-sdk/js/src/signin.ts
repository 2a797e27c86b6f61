/**
 * The sign-in request an app shows as a QR code or deep link, parsed with the strictness of
 * `sealgate-crypto`'s `signin.rs`:
 * `sealgate:signin?v=1&gw=GATEWAY&cid=CLIENT&mbx=MAILBOX&kid=THUMBPRINT&exp=UNIX&nonce=NONCE`.
 * @module
 */

import * as base64url from "./base64url.js";
import { SignInRequestError } from "./errors.js";
import { isPlainIdentifier } from "./header.js";

/** The scheme and path every sign-in request starts with. */
export const PREFIX = "sealgate:signin?";

/** The longest sign-in request URI, in characters. */
export const MAX_URI_LEN = 400;

const VERSION = "1";
const NAMES = ["v", "gw", "cid", "mbx", "kid", "exp", "nonce"] as const;

function isGatewayUrl(url: string): boolean {
  if (url.endsWith("/")) return false;
  const rest = url.startsWith("https://") ? url.slice(8) : url.startsWith("http://") ? url.slice(7) : undefined;
  return rest !== undefined && rest !== "" && url.length <= 200 && !/[?# @]/.test(url) && /^[\x21-\x7e]+$/.test(url);
}

/** A validated sign-in request. */
export class SignInRequest {
  /** The gateway's base URL. */
  readonly gateway: string;
  /** The app's client id. */
  readonly clientId: string;
  /** The mailbox the token goes to. */
  readonly mailboxId: string;
  /** The thumbprint of the only key the phone may seal to. */
  readonly keyThumbprint: string;
  /** When the mailbox expires, seconds since the epoch. */
  readonly expiresAt: number;
  /** The app's OIDC nonce, for the ID token's `nonce` claim. */
  readonly nonce: string;

  private constructor(fields: Omit<SignInRequest, "toUri" | "mailboxUrl" | "jwksUrl">) {
    this.gateway = fields.gateway;
    this.clientId = fields.clientId;
    this.mailboxId = fields.mailboxId;
    this.keyThumbprint = fields.keyThumbprint;
    this.expiresAt = fields.expiresAt;
    this.nonce = fields.nonce;
  }

  /** Builds a request, checking every field and that the URI fits {@link MAX_URI_LEN}; a trailing `/` of `gateway` is dropped. */
  static create(fields: Omit<SignInRequest, "toUri" | "mailboxUrl" | "jwksUrl">): SignInRequest {
    const request = new SignInRequest({ ...fields, gateway: fields.gateway.replace(/\/+$/, "") });
    if (!Number.isSafeInteger(request.expiresAt) || request.expiresAt < 0) throw new SignInRequestError("Invalid", "exp");
    request.validate();
    if (request.toUri().length > MAX_URI_LEN) throw new SignInRequestError("TooLong", MAX_URI_LEN);
    return request;
  }

  private validate(): void {
    if (!isGatewayUrl(this.gateway)) throw new SignInRequestError("Invalid", "gw");
    for (const [name, value] of [["cid", this.clientId], ["mbx", this.mailboxId], ["nonce", this.nonce]]) {
      if (!isPlainIdentifier(value)) throw new SignInRequestError("Invalid", name);
    }
    if (this.keyThumbprint.length !== 43 || base64url.decode(this.keyThumbprint) === undefined) {
      throw new SignInRequestError("Invalid", "kid");
    }
  }

  /** Parses a URI strictly and refuses it if it expired by `now` (seconds since the epoch; the clock by default). */
  static parse(uri: string, now: number = Math.floor(Date.now() / 1000)): SignInRequest {
    if (new TextEncoder().encode(uri).length > MAX_URI_LEN) throw new SignInRequestError("TooLong", MAX_URI_LEN);
    if (!uri.startsWith(PREFIX)) throw new SignInRequestError("NotASignInRequest");
    const fields = new Map<string, string>();
    for (const [name, value] of new URLSearchParams(uri.slice(PREFIX.length))) {
      if (!(NAMES as readonly string[]).includes(name)) continue;
      if (fields.has(name)) throw new SignInRequestError("Repeated", name);
      fields.set(name, value);
    }
    const take = (name: (typeof NAMES)[number]): string => {
      const value = fields.get(name);
      if (value === undefined) throw new SignInRequestError("Missing", name);
      return value;
    };
    const version = take("v");
    if (version !== VERSION) throw new SignInRequestError("UnsupportedVersion", version);
    const [gateway, clientId, mailboxId, keyThumbprint, exp, nonce] = (["gw", "cid", "mbx", "kid", "exp", "nonce"] as const).map(take);
    if (!/^[0-9]+$/.test(exp) || BigInt(exp) > 0xffffffffffffffffn) throw new SignInRequestError("Invalid", "exp");
    const request = new SignInRequest({ gateway, clientId, mailboxId, keyThumbprint, expiresAt: Number(exp), nonce });
    request.validate();
    if (BigInt(exp) <= BigInt(Math.floor(now))) throw new SignInRequestError("Expired", Number(exp));
    return request;
  }

  /** The request as a URI (form-urlencoded, as the Rust codec writes it). */
  toUri(): string {
    const query = new URLSearchParams([
      ["v", VERSION],
      ["gw", this.gateway],
      ["cid", this.clientId],
      ["mbx", this.mailboxId],
      ["kid", this.keyThumbprint],
      ["exp", String(this.expiresAt)],
      ["nonce", this.nonce],
    ]);
    return `${PREFIX}${query.toString()}`;
  }

  /** The URL the phone deposits the envelope at. */
  mailboxUrl(): string {
    return `${this.gateway}/v1/mailboxes/${this.mailboxId}`;
  }

  /** The URL of the client's public key set. */
  jwksUrl(): string {
    return `${this.gateway}/v1/clients/${this.clientId}/jwks`;
  }
}
