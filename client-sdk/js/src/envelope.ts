/**
 * The envelope: a compact JWE with HPKE Integrated Encryption (draft-ietf-jose-hpke-encrypt),
 * `BASE64URL(header) "." BASE64URL(enc) "." "." BASE64URL(ciphertext) "."`, byte-compatible
 * with `sealgate-crypto`: HPKE base mode, empty `info`, `aad` = the ASCII of the encoded header.
 * @module
 */

import { Aes128Gcm, CipherSuite, DhkemX25519HkdfSha256 as NativeX25519, HkdfSha256 as NativeHkdf } from "@hpke/core";
import { Chacha20Poly1305 } from "@hpke/chacha20poly1305";
import { DhkemX25519HkdfSha256, HkdfSha256 } from "@hpke/dhkem-x25519";

import * as base64url from "./base64url.js";
import { BindingError, EnvelopeError, JwkError, SealError } from "./errors.js";
import { type Header, headerToJson, isPlainIdentifier, MAX_NUMERIC_DATE, parseHeader } from "./header.js";
import { type Algorithm, asValue, isLowOrder, parseJwks, parsePrivateJwk, parsePublicJwk, type PrivateKey, type PublicKey } from "./jwk.js";

/** The largest plaintext (an ID token) an envelope carries, in bytes. */
export const MAX_PLAINTEXT_LEN = 8 * 1024;

/** The longest serialized envelope accepted, in bytes. */
export const MAX_ENVELOPE_LEN = 16 * 1024;

/** Length of an AEAD tag for both supported AEADs. */
const TAG_LEN = 16;

/** Whether this runtime's WebCrypto does X25519 (Node 20, current browsers); not React Native. */
async function hasNativeX25519(): Promise<boolean> {
  try {
    await crypto.subtle.generateKey({ name: "X25519" }, false, ["deriveBits"]);
    return true;
  } catch {
    return false;
  }
}

/**
 * The two HPKE suites: X25519 and HKDF from WebCrypto where it has X25519, else the pure
 * JavaScript ones of `@hpke/dhkem-x25519`; ChaCha20Poly1305 in JavaScript, AES-GCM in WebCrypto.
 */
const suites: Promise<Record<Algorithm, CipherSuite>> = hasNativeX25519().then((native) => {
  const kem = () => (native ? new NativeX25519() : new DhkemX25519HkdfSha256());
  const kdf = () => (native ? new NativeHkdf() : new HkdfSha256());
  return {
    "HPKE-3": new CipherSuite({ kem: kem(), kdf: kdf(), aead: new Aes128Gcm() }),
    "HPKE-4": new CipherSuite({ kem: kem(), kdf: kdf(), aead: new Chacha20Poly1305() }),
  };
});

/** What an envelope is bound to and how it is sealed. */
export interface SealOptions {
  /** The client id (`aud`). */
  aud?: string;
  /** The mailbox id (`mbx`). */
  mbx?: string;
  /** Expiry, seconds since the Unix epoch (`exp`). */
  exp?: number;
  /** With a key set: the thumbprint of the key to seal to (the first key otherwise). */
  kid?: string;
  /** The `cty` member: by default `"JWT"` when the plaintext is a JWS compact serialization, none otherwise; `null` for none. */
  cty?: string | null;
  /** Input keying material for the ephemeral key (RFC 9180 DeriveKeyPair); for known-answer tests only. */
  ephemeralIkm?: Uint8Array;
}

/** What to check when opening. */
export interface OpenOptions {
  /** The client id the envelope must be bound to. */
  aud?: string;
  /** The mailbox id the envelope must be bound to. */
  mbx?: string;
  /** The time, seconds since the epoch, `exp` is checked against (now by default). */
  now?: number;
}

/** A parsed, not yet opened envelope: its header is readable without a key. */
export interface ParsedEnvelope {
  header: Header;
  encodedHeader: string;
  encapsulatedKey: Uint8Array;
  ciphertext: Uint8Array;
}

/** The recipient: a public JWK, a JWKS, or a key this package already checked. */
export type Recipient = unknown;

async function recipientKey(recipient: Recipient, kid: string | undefined): Promise<PublicKey> {
  if (typeof recipient === "object" && recipient !== null && "bytes" in recipient) return recipient as PublicKey;
  const value = asValue(recipient);
  if (typeof value === "object" && value !== null && "keys" in value) {
    const keys = await parseJwks(value);
    const key = kid === undefined ? keys[0] : keys.find((candidate) => candidate.kid === kid);
    if (key === undefined) throw new JwkError("NoMatchingKey", kid);
    return key;
  }
  const key = await parsePublicJwk(value);
  if (kid !== undefined && key.kid !== kid) throw new JwkError("NoMatchingKey", kid);
  return key;
}

function checkBinding(options: SealOptions, cty: string | undefined): void {
  if (options.exp !== undefined && !(Number.isSafeInteger(options.exp) && options.exp >= 0 && options.exp <= MAX_NUMERIC_DATE)) {
    throw new SealError("InvalidBinding", "exp");
  }
  for (const name of ["aud", "mbx"] as const) {
    const value = options[name];
    if (value !== undefined && !isPlainIdentifier(value)) throw new SealError("InvalidBinding", name);
  }
  if (cty !== undefined && !isPlainIdentifier(cty)) throw new SealError("InvalidBinding", "cty");
}

/** Three non-empty base64url segments separated by dots: a JWS compact serialization. */
function looksLikeJwt(bytes: Uint8Array): boolean {
  const text = String.fromCharCode(...bytes.subarray(0, MAX_PLAINTEXT_LEN));
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(text);
}

/**
 * Seals `plaintext` (bytes, or text as UTF-8) to `recipient` (a public JWK or a JWKS) and returns
 * the compact JWE. HPKE-4 unless the key says `HPKE-3`.
 */
export async function seal(recipient: Recipient, plaintext: Uint8Array | string, options: SealOptions = {}): Promise<string> {
  const bytes = typeof plaintext === "string" ? new TextEncoder().encode(plaintext) : plaintext;
  if (bytes.length > MAX_PLAINTEXT_LEN) throw new SealError("PlaintextTooLarge", bytes.length);
  const cty = options.cty === undefined ? (looksLikeJwt(bytes) ? "JWT" : undefined) : (options.cty ?? undefined);
  checkBinding(options, cty);
  const key = await recipientKey(recipient, options.kid);
  if (isLowOrder(key.bytes)) throw new SealError("InvalidRecipientKey");
  const header: Header = { alg: key.alg, kid: key.kid, cty, aud: options.aud, mbx: options.mbx, exp: options.exp };
  const encodedHeader = base64url.encodeText(headerToJson(header));
  const suite = (await suites)[key.alg];
  let sealed: { enc: ArrayBuffer; ct: ArrayBuffer };
  try {
    const recipientPublicKey = await suite.kem.deserializePublicKey(key.bytes);
    const params = { recipientPublicKey, ...(options.ephemeralIkm ? { ekm: options.ephemeralIkm } : {}) };
    sealed = await suite.seal(params, bytes, new TextEncoder().encode(encodedHeader));
  } catch {
    throw new SealError("InvalidRecipientKey");
  }
  return `${encodedHeader}.${base64url.encode(new Uint8Array(sealed.enc))}..${base64url.encode(new Uint8Array(sealed.ct))}.`;
}

/** Parses a compact JWE strictly, without a key, as the gateway does on every deposit. */
export function parseEnvelope(compact: string): ParsedEnvelope {
  const len = new TextEncoder().encode(compact).length;
  if (len > MAX_ENVELOPE_LEN) throw new EnvelopeError("TooLarge", len);
  const parts = compact.split(".");
  if (parts.length !== 5) throw new EnvelopeError("PartCount", parts.length);
  const [encodedHeader, encapsulated, iv, ciphertextText, tag] = parts;
  const headerBytes = base64url.decode(encodedHeader);
  if (headerBytes === undefined) throw new EnvelopeError("Base64", "Header");
  const header = parseHeader(headerBytes);
  if (iv !== "") throw new EnvelopeError("NonEmptyIv");
  if (tag !== "") throw new EnvelopeError("NonEmptyTag");
  const encapsulatedKey = base64url.decode(encapsulated);
  if (encapsulatedKey === undefined) throw new EnvelopeError("Base64", "EncapsulatedKey");
  if (encapsulatedKey.length !== 32) throw new EnvelopeError("EncapsulatedKeyLength");
  const ciphertext = base64url.decode(ciphertextText);
  if (ciphertext === undefined) throw new EnvelopeError("Base64", "Ciphertext");
  if (ciphertext.length > MAX_PLAINTEXT_LEN + TAG_LEN) throw new EnvelopeError("PlaintextTooLarge", MAX_PLAINTEXT_LEN);
  return { header, encodedHeader, encapsulatedKey, ciphertext };
}

/** Decrypts a parsed envelope with a checked key: `kid`, then `alg`, then the opaque HPKE open. */
export async function openParsed(key: PrivateKey, envelope: ParsedEnvelope): Promise<Uint8Array> {
  const { header } = envelope;
  if (header.kid !== key.publicKey.kid) throw new EnvelopeError("KidMismatch");
  if (header.alg !== key.publicKey.alg) throw new EnvelopeError("AlgorithmMismatch");
  if (envelope.ciphertext.length < TAG_LEN) throw new EnvelopeError("Decryption");
  const suite = (await suites)[header.alg];
  try {
    const recipientKey = await suite.kem.deserializePrivateKey(key.secret);
    const params = { recipientKey, enc: envelope.encapsulatedKey };
    const aad = new TextEncoder().encode(envelope.encodedHeader);
    return new Uint8Array(await suite.open(params, envelope.ciphertext, aad));
  } catch {
    throw new EnvelopeError("Decryption");
  }
}

/**
 * Checks an authenticated header against what the app expects, as Rust's `check_binding`: each
 * of `aud` and `mbx` that is given must be present and equal; `exp` must be in the future
 * whenever present, and present whenever `aud` or `mbx` is checked.
 */
export function checkHeaderBinding(header: Header, options: OpenOptions): void {
  const now = options.now ?? Math.floor(Date.now() / 1000);
  if (options.aud !== undefined) {
    if (header.aud === undefined) throw new BindingError("Missing", "aud");
    if (header.aud !== options.aud) throw new BindingError("WrongClient");
  }
  if (options.mbx !== undefined) {
    if (header.mbx === undefined) throw new BindingError("Missing", "mbx");
    if (header.mbx !== options.mbx) throw new BindingError("WrongMailbox");
  }
  if (header.exp === undefined) {
    if (options.aud !== undefined || options.mbx !== undefined) throw new BindingError("Missing", "exp");
  } else if (header.exp <= now) {
    throw new BindingError("Expired", header.exp);
  }
}

/**
 * Opens a compact JWE with a private JWK (or a checked key) and returns the plaintext; refuses
 * what `sealgate-crypto` refuses, with the same error kinds, then checks the binding.
 */
export async function open(privateJwk: unknown, compact: string, options: OpenOptions = {}): Promise<Uint8Array> {
  return (await openWithHeader(privateJwk, compact, options)).plaintext;
}

/** Like {@link open}, also returning the authenticated header. */
export async function openWithHeader(privateJwk: unknown, compact: string, options: OpenOptions = {}): Promise<{ header: Header; plaintext: Uint8Array }> {
  const key = typeof privateJwk === "object" && privateJwk !== null && "secret" in privateJwk ? (privateJwk as PrivateKey) : await parsePrivateJwk(privateJwk);
  const envelope = parseEnvelope(compact);
  const plaintext = await openParsed(key, envelope);
  checkHeaderBinding(envelope.header, options);
  return { header: envelope.header, plaintext };
}
