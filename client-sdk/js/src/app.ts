/**
 * The app side: register, open a mailbox, show the sign-in request, wait for the token, open it
 * and check it was sealed for this client and mailbox — the semantics of the Rust SDK's `app.rs`.
 * @module
 */

import * as base64url from "./base64url.js";
import { checkHeaderBinding, openParsed, parseEnvelope } from "./envelope.js";
import { BindingError, EnvelopeError } from "./errors.js";
import type { Header } from "./header.js";
import { baseUrl, ClientError, errorFromResponse, type Fetch, nowSecs, retryAfter, send } from "./http.js";
import { parsePrivateJwk, type PrivateKey, toPublicJwk } from "./jwk.js";
import { type Attempt, type Backoff, retry } from "./retry.js";
import { SignInRequest } from "./signin.js";
import type { Delivery } from "./webhook.js";

/** Time allowed for a request that is not a long-poll, ms. */
const REQUEST_TIMEOUT_MS = 10_000;
/** The longest single long-poll the app asks for, seconds. */
const MAX_POLL_WAIT_SECS = 30;
/** Backoff after failed polls: from 250 ms, doubling up to 5 s, for as long as the mailbox lives. */
const POLL_BACKOFF: Backoff = { firstMs: 250, maxStepMs: 5_000 };

/** A mailbox waiting for the phone: the sign-in request to show and what the token must match. */
export interface PendingSignIn {
  /** The sign-in request. */
  request: SignInRequest;
  /** The request as a URI, for a link or QR code. */
  uri: string;
  /** The mailbox id. */
  mailboxId: string;
  /** The OIDC nonce the ID token must carry. */
  nonce: string;
  /** When the mailbox expires, seconds since the epoch. */
  expiresAt: number;
}

/** The token the phone sent, opened and checked against its mailbox. */
export interface ReceivedToken {
  /** The ID token (JWS compact). Never log it. */
  token: string;
  /** The envelope's authenticated header. */
  header: Header;
}

/** Saved credentials of a registered app. */
export interface Credentials {
  gateway: string;
  clientId: string;
  clientSecret: string;
  /** The private JWKs, newest first. */
  keys: unknown[];
  /** The webhook signing secret (`whsec_…`), when the client has a webhook. */
  webhookSecret?: string;
  /** The `fetch` to use; the global one by default. */
  fetch?: Fetch;
}

/** Options of {@link AppClient.register}. */
export interface RegisterOptions {
  /** The operator's registration token, when the gateway requires one. */
  registrationToken?: string;
  /** Where the gateway should POST envelopes. */
  webhookUrl?: string;
  /** The `fetch` to use; the global one by default. */
  fetch?: Fetch;
}

/** A registered app: its credentials and private keys, and its gateway. */
export class AppClient {
  /** The gateway's base URL. */
  readonly gateway: string;
  /** The client id. */
  readonly clientId: string;
  /** The webhook signing secret, when the gateway made one; the gateway shows it once. */
  readonly webhookSecret?: string;
  readonly #secret: string;
  readonly #keys: PrivateKey[];
  readonly #fetch: Fetch;

  private constructor(gateway: string, clientId: string, secret: string, keys: PrivateKey[], fetchImpl: Fetch, webhookSecret?: string) {
    this.gateway = gateway;
    this.clientId = clientId;
    this.#secret = secret;
    this.#keys = keys;
    this.#fetch = fetchImpl;
    this.webhookSecret = webhookSecret;
  }

  /** Registers a new client at `gateway` with the public half of `privateJwk`. */
  static async register(gateway: string, name: string, privateJwk: unknown, options: RegisterOptions = {}): Promise<AppClient> {
    const base = baseUrl(gateway);
    const key = await parsePrivateJwk(privateJwk);
    const fetchImpl = options.fetch ?? globalThis.fetch;
    const body: Record<string, unknown> = { client_name: name, jwks: { keys: [toPublicJwk(key.publicKey)] } };
    if (options.webhookUrl !== undefined) body.webhook_url = options.webhookUrl;
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (options.registrationToken !== undefined) headers.authorization = `Bearer ${options.registrationToken}`;
    const response = await send(fetchImpl, `${base}/v1/clients`, { method: "POST", headers, body: JSON.stringify(body) }, REQUEST_TIMEOUT_MS);
    if (response.status !== 201) throw await errorFromResponse(response);
    const answer = (await response.json()) as Record<string, unknown>;
    const field = (name: string): string => {
      if (typeof answer[name] !== "string") throw new ClientError("Protocol", `registration answer has no ${name}`);
      return answer[name] as string;
    };
    const webhookSecret = typeof answer.webhook_secret === "string" ? answer.webhook_secret : undefined;
    return new AppClient(base, field("client_id"), field("client_secret"), [key], fetchImpl, webhookSecret);
  }

  /** An app from saved credentials. */
  static async fromCredentials(credentials: Credentials): Promise<AppClient> {
    if (credentials.keys.length === 0) throw new ClientError("Protocol", "no private key");
    const keys = await Promise.all(credentials.keys.map((jwk) => parsePrivateJwk(jwk)));
    const fetchImpl = credentials.fetch ?? globalThis.fetch;
    return new AppClient(baseUrl(credentials.gateway), credentials.clientId, credentials.clientSecret, keys, fetchImpl, credentials.webhookSecret);
  }

  /** The client secret, to save it; never log it. */
  get clientSecret(): string {
    return this.#secret;
  }

  /**
   * Opens a mailbox living `ttlSecs` (the gateway's default otherwise) and returns the sign-in
   * request, built from this app's own key; the gateway's must agree with it, or this fails
   * with `SignInRequestMismatch`.
   */
  async openMailbox(options: { ttlSecs?: number } = {}): Promise<PendingSignIn> {
    const nonce = base64url.encode(crypto.getRandomValues(new Uint8Array(16)));
    const key = this.#keys[0].publicKey;
    const body: Record<string, unknown> = { nonce, kid: key.kid };
    if (options.ttlSecs !== undefined) body.ttl = Math.max(1, Math.floor(options.ttlSecs));
    const response = await this.#authorized("POST", `${this.gateway}/v1/mailboxes`, JSON.stringify(body));
    if (response.status !== 201) throw await errorFromResponse(response);
    const answer = (await response.json()) as Record<string, unknown>;
    if (typeof answer.signin_request !== "string") throw new ClientError("Protocol", "no signin_request");
    if (typeof answer.mailbox_id !== "string") throw new ClientError("Protocol", "no mailbox_id");
    const offered = SignInRequest.parse(answer.signin_request);
    const ours = SignInRequest.create({ gateway: offered.gateway, clientId: this.clientId, mailboxId: answer.mailbox_id, keyThumbprint: key.kid, expiresAt: offered.expiresAt, nonce });
    if (ours.toUri() !== offered.toUri()) throw new ClientError("SignInRequestMismatch");
    return { request: ours, uri: ours.toUri(), mailboxId: ours.mailboxId, nonce, expiresAt: ours.expiresAt };
  }

  /**
   * Waits for the phone's token: long-polls (honouring 202 + `Retry-After`, 429, 503, and riding
   * out connection failures) until it arrives or the request expires; opens the envelope and
   * checks it was sealed for this client and mailbox and has not expired.
   */
  waitForToken(pending: PendingSignIn): Promise<ReceivedToken> {
    return this.waitForMailbox(pending.mailboxId, pending.expiresAt);
  }

  /** Waits on a mailbox known only by its id, until `expiresAt` (seconds since the epoch). */
  waitForMailbox(mailboxId: string, expiresAt: number): Promise<ReceivedToken> {
    return retry(POLL_BACKOFF, expiresAt, () => this.#pollOnce(mailboxId, expiresAt));
  }

  async #pollOnce(mailboxId: string, expiresAt: number): Promise<Attempt<ReceivedToken>> {
    const wait = Math.min(Math.max(expiresAt - nowSecs(), 0), MAX_POLL_WAIT_SECS);
    let response: Response;
    try {
      const url = `${this.gateway}/v1/mailboxes/${mailboxId}?wait=${wait}`;
      response = await this.#authorized("GET", url, undefined, wait * 1000 + REQUEST_TIMEOUT_MS);
    } catch (error) {
      if (error instanceof ClientError && error.kind === "Transport") return { failed: error };
      throw error;
    }
    switch (response.status) {
      case 200:
        return { done: await this.openEnvelope(await response.text(), mailboxId) };
      case 202:
        await response.body?.cancel();
        return { againMs: (retryAfter(response) ?? 0) * 1000 };
      case 429:
      case 503:
        return { failed: await errorFromResponse(response), retryAfterSecs: retryAfter(response) };
      default:
        if (response.status === 404 && nowSecs() >= expiresAt) throw new ClientError("Expired");
        throw await errorFromResponse(response);
    }
  }

  /**
   * Opens an envelope (a poll's body or a webhook's) with the key its `kid` names, and checks
   * it was sealed for this client and `mailboxId` and has not expired.
   */
  async openEnvelope(compact: string, mailboxId: string): Promise<ReceivedToken> {
    const envelope = parseEnvelope(compact.replace(/[\r\n]+$/, ""));
    const key = this.#keys.find((candidate) => candidate.publicKey.kid === envelope.header.kid);
    if (key === undefined) throw new EnvelopeError("KidMismatch");
    const plaintext = await openParsed(key, envelope);
    checkHeaderBinding(envelope.header, { aud: this.clientId, mbx: mailboxId });
    let token: string;
    try {
      token = new TextDecoder("utf-8", { fatal: true }).decode(plaintext);
    } catch {
      throw new ClientError("NotText");
    }
    return { token, header: envelope.header };
  }

  /** Opens an envelope that arrived by webhook (see {@link verifyDelivery}), checking its binding. */
  openDelivered(delivery: Delivery): Promise<ReceivedToken> {
    if (delivery.clientId !== this.clientId) throw new BindingError("WrongClient");
    return this.openEnvelope(delivery.envelope, delivery.mailboxId);
  }

  /** Cancels a mailbox. */
  async cancel(mailboxId: string): Promise<void> {
    await this.#delete(`${this.gateway}/v1/mailboxes/${mailboxId}`);
  }

  /** Removes the client and its mailboxes from the gateway. */
  async delete(): Promise<void> {
    await this.#delete(`${this.gateway}/v1/clients/${this.clientId}`);
  }

  async #delete(url: string): Promise<void> {
    const response = await this.#authorized("DELETE", url);
    if (response.status !== 204) throw await errorFromResponse(response);
  }

  #authorized(method: string, url: string, body?: string, timeoutMs = REQUEST_TIMEOUT_MS): Promise<Response> {
    const encode = (text: string) => new URLSearchParams([["", text]]).toString().slice(1);
    const credentials = `${encode(this.clientId)}:${encode(this.#secret)}`;
    const headers: Record<string, string> = { authorization: `Basic ${btoa(credentials)}` };
    if (body !== undefined) headers["content-type"] = "application/json";
    return send(this.#fetch, url, { method, headers, body }, timeoutMs);
  }
}
