/**
 * X25519 keys as JSON Web Keys (RFC 8037 `OKP`), their RFC 7638 thumbprints, and key sets,
 * checked as `sealgate-crypto`'s `jwk.rs` checks them.
 * @module
 */

import { HkdfSha256, X25519 } from "@hpke/dhkem-x25519";

import * as base64url from "./base64url.js";
import { JwkError } from "./errors.js";
import { parseJson } from "./json.js";

/** A JOSE-HPKE algorithm sealgate speaks: `HPKE-4` (ChaCha20Poly1305, the default) or `HPKE-3` (AES-128-GCM). */
export type Algorithm = "HPKE-3" | "HPKE-4";

/** The supported algorithms, default first. */
export const ALGORITHMS: readonly Algorithm[] = ["HPKE-4", "HPKE-3"];

/** The most keys a key set may hold. */
export const MAX_JWKS_KEYS = 16;

/** An X25519 public JWK as sealgate writes it. */
export interface PublicJwk {
  kty: "OKP";
  crv: "X25519";
  x: string;
  use?: "enc";
  alg?: Algorithm;
  kid?: string;
}

/** An X25519 private JWK: a public JWK with `d`. Handle with care: never log it. */
export interface PrivateJwk extends PublicJwk {
  d: string;
}

/** A JSON Web Key Set. */
export interface Jwks {
  keys: PublicJwk[];
}

/** A checked public key: the raw point, its algorithm and its thumbprint. */
export interface PublicKey {
  readonly bytes: Uint8Array;
  readonly alg: Algorithm;
  readonly kid: string;
}

/** A checked private key with its public half. */
export interface PrivateKey {
  readonly secret: Uint8Array;
  readonly publicKey: PublicKey;
}

const primitives = new X25519(new HkdfSha256());

/** Whether `value` names a supported algorithm. */
export function isAlgorithm(value: unknown): value is Algorithm {
  return value === "HPKE-3" || value === "HPKE-4";
}

/**
 * The RFC 7638 thumbprint (SHA-256, base64url) of an X25519 public key, given as a JWK or as
 * its 32 raw bytes; sealgate uses it as the key's `kid`.
 */
export async function thumbprint(key: { x: string } | Uint8Array): Promise<string> {
  const x = key instanceof Uint8Array ? base64url.encode(key) : key.x;
  const canonical = `{"crv":"X25519","kty":"OKP","x":"${x}"}`;
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(canonical));
  return base64url.encode(new Uint8Array(digest));
}

/** A public key from raw bytes, for `alg`. */
export async function publicKeyFromBytes(bytes: Uint8Array, alg: Algorithm): Promise<PublicKey> {
  return { bytes, alg, kid: await thumbprint(bytes) };
}

/** The key as a public JWK: `kty`, `crv`, `x`, `use`, `alg` and `kid`. */
export function toPublicJwk(key: PublicKey): PublicJwk {
  return { kty: "OKP", crv: "X25519", x: base64url.encode(key.bytes), use: "enc", alg: key.alg, kid: key.kid };
}

/** The key as a private JWK, with `d`. */
export function toPrivateJwk(key: PrivateKey): PrivateJwk {
  const jwk = toPublicJwk(key.publicKey);
  return { kty: "OKP", crv: "X25519", x: jwk.x, d: base64url.encode(key.secret), use: "enc", alg: jwk.alg, kid: jwk.kid };
}

/** Parses JSON text as strictly as serde_json (or passes a value through). */
export function asValue(input: unknown): unknown {
  if (typeof input !== "string") return input;
  const value = parseJson(input);
  if (value === undefined) throw new JwkError("NotJson");
  return value;
}

function asObject(value: unknown): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new JwkError("NotAnObject");
  return value as Record<string, unknown>;
}

/** Checks `kty`, `crv`, `use` and `alg`, the members every X25519 JWK shares. */
function parseOkpHeader(object: Record<string, unknown>): Algorithm {
  const member = (name: string): string | undefined => {
    const value = object[name];
    if (value === undefined) return undefined;
    if (typeof value !== "string") throw new JwkError("InvalidMember", name);
    return value;
  };
  const kty = member("kty");
  if (kty === undefined) throw new JwkError("MissingMember", "kty");
  if (kty !== "OKP") throw new JwkError("UnsupportedKeyType", kty);
  const crv = member("crv");
  if (crv === undefined) throw new JwkError("MissingMember", "crv");
  if (crv !== "X25519") throw new JwkError("UnsupportedCurve", crv);
  const use = member("use");
  if (use !== undefined && use !== "enc") throw new JwkError("WrongUse", use);
  const alg = member("alg");
  if (alg === undefined) return "HPKE-4";
  if (!isAlgorithm(alg)) throw new JwkError("UnsupportedAlgorithm", alg);
  return alg;
}

function checkKid(object: Record<string, unknown>, key: PublicKey): void {
  const kid = object.kid;
  if (kid === undefined) return;
  if (typeof kid !== "string") throw new JwkError("InvalidMember", "kid");
  if (kid !== key.kid) throw new JwkError("KidNotThumbprint");
}

function decodeKey(object: Record<string, unknown>, name: "x" | "d"): Uint8Array {
  const value = object[name];
  if (value === undefined) throw new JwkError("MissingMember", name);
  if (typeof value !== "string") throw new JwkError("InvalidMember", name);
  const bytes = base64url.decode(value);
  if (bytes === undefined || bytes.length !== 32) throw new JwkError("InvalidMember", name);
  return bytes;
}

/** The field prime of Curve25519, 2^255 - 19. */
const P = (1n << 255n) - 19n;

/** The u-coordinates of the points of order 1, 2, 4 and 8 (RFC 7748 §6.1, libsodium's list). */
const LOW_ORDER = new Set([
  0n,
  1n,
  P - 1n,
  0x00b8495f16056286fdb1329ceb8d09da6ac49ff1fae35616aeb8413b7c7aebe0n,
  0x57119fd0dd4e22d8868e1c58c45c44045bef839c55b1d0b1248c50a3bc959c5fn,
]);

/**
 * Whether X25519 with `point` gives the all-zero secret for every scalar (the low-order
 * points, with the top bit ignored and non-canonical encodings reduced, as X25519 reads them).
 */
export function isLowOrder(point: Uint8Array): boolean {
  let u = 0n;
  for (let i = 31; i >= 0; i--) u = (u << 8n) | BigInt(i === 31 ? point[i] & 0x7f : point[i]);
  return LOW_ORDER.has(u % P);
}

/**
 * Parses a public JWK (an object or JSON text) strictly: a JWK with private material (`d`), a
 * low-order point or a `kid` that is not the thumbprint is refused.
 */
export async function parsePublicJwk(input: unknown): Promise<PublicKey> {
  const object = asObject(asValue(input));
  if ("d" in object) throw new JwkError("PrivateKeyMaterial");
  const alg = parseOkpHeader(object);
  const x = decodeKey(object, "x");
  if (isLowOrder(x)) throw new JwkError("LowOrderPoint");
  const key = await publicKeyFromBytes(x, alg);
  checkKid(object, key);
  return key;
}

/** A private key from its raw 32-byte scalar, for `alg`. */
export async function privateKeyFromBytes(secret: Uint8Array, alg: Algorithm): Promise<PrivateKey> {
  const sk = await primitives.deserializePrivateKey(secret);
  const pk = await primitives.derivePublicKey(sk);
  const bytes = new Uint8Array(await primitives.serializePublicKey(pk)).slice(0, 32);
  return { secret: Uint8Array.from(secret), publicKey: await publicKeyFromBytes(bytes, alg) };
}

/** Parses a private JWK (with `d`); when it carries `x`, `x` must be the public key of `d`. */
export async function parsePrivateJwk(input: unknown): Promise<PrivateKey> {
  const object = asObject(asValue(input));
  const alg = parseOkpHeader(object);
  const key = await privateKeyFromBytes(decodeKey(object, "d"), alg);
  if (object.x !== undefined) {
    if (typeof object.x !== "string") throw new JwkError("InvalidMember", "x");
    if (object.x !== base64url.encode(key.publicKey.bytes)) throw new JwkError("PublicKeyMismatch");
  }
  checkKid(object, key.publicKey);
  return key;
}

/** Parses `{"keys": [...]}`: 1 to {@link MAX_JWKS_KEYS} valid public keys, no key twice. */
export async function parseJwks(input: unknown): Promise<PublicKey[]> {
  const value = asValue(input);
  const keys = (value as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys)) throw new JwkError("MissingMember", "keys");
  if (keys.length > MAX_JWKS_KEYS) throw new JwkError("TooManyKeys", MAX_JWKS_KEYS);
  const parsed: PublicKey[] = [];
  for (const [index, key] of keys.entries()) {
    try {
      parsed.push(await parsePublicJwk(key));
    } catch (error) {
      if (!(error instanceof JwkError)) throw error;
      throw Object.assign(new JwkError("InSet", index), { cause: error });
    }
  }
  if (parsed.length === 0) throw new JwkError("EmptySet");
  if (new Set(parsed.map((key) => key.kid)).size !== parsed.length) throw new JwkError("DuplicateKey");
  return parsed;
}

/** A fresh key pair for `alg` (HPKE-4 by default), as JWKs whose `kid` is the thumbprint. */
export async function generateKeyPair(options: { alg?: Algorithm } = {}): Promise<{ privateJwk: PrivateJwk; publicJwk: PublicJwk }> {
  const alg = options.alg ?? "HPKE-4";
  if (!isAlgorithm(alg)) throw new JwkError("UnsupportedAlgorithm", String(alg));
  const secret = crypto.getRandomValues(new Uint8Array(32));
  const key = await privateKeyFromBytes(secret, alg);
  return { privateJwk: toPrivateJwk(key), publicJwk: toPublicJwk(key.publicKey) };
}
