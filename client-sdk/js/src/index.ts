/**
 * `@sealgate/client`: sealgate's phone side and app side for JavaScript runtimes, byte-compatible
 * with the Rust crates. The envelope is a JOSE-HPKE compact JWE (HPKE-4 by default) bound to a
 * client and a mailbox; the sign-in request is what the app shows and the phone parses.
 * @module
 */

export * as base64url from "./base64url.js";
export * from "./errors.js";
export { ALGORITHMS, type Algorithm, generateKeyPair, type Jwks, MAX_JWKS_KEYS, parseJwks, parsePrivateJwk, parsePublicJwk, type PrivateJwk, type PrivateKey, type PublicJwk, type PublicKey, thumbprint } from "./jwk.js";
export { type Header, MAX_BINDING_LEN, MAX_NUMERIC_DATE } from "./header.js";
export { checkHeaderBinding, MAX_ENVELOPE_LEN, MAX_PLAINTEXT_LEN, open, type OpenOptions, openWithHeader, parseEnvelope, type ParsedEnvelope, type Recipient, seal, type SealOptions } from "./envelope.js";
export { MAX_URI_LEN, PREFIX, SignInRequest } from "./signin.js";
export { type Deposited, type SendOptions, sendToken } from "./phone.js";
export { AppClient, type Credentials, type PendingSignIn, type ReceivedToken, type RegisterOptions } from "./app.js";
export { ClientError, type ClientErrorKind, type Fetch } from "./http.js";
export { type Delivery, TIMESTAMP_TOLERANCE_SECS, verifyDelivery, WebhookError, type WebhookHeaders } from "./webhook.js";
export { type ExpectedIdToken, verifyIdToken } from "./idtoken.js";
