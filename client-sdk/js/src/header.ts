/**
 * The JWE protected header of a sealgate envelope, parsed as strictly as `sealgate-crypto`'s
 * `header.rs`: a JSON object, no repeated known member, `alg` and `kid` present, nothing that
 * Integrated Encryption forbids or sealgate does not implement.
 * @module
 */

import { EnvelopeError } from "./errors.js";
import { type Algorithm, isAlgorithm } from "./jwk.js";
import { hasLoneSurrogate, scanMembers, serdeReadable } from "./json.js";

/** The longest binding value (`aud`, `mbx`) accepted, in characters. */
export const MAX_BINDING_LEN = 128;

/** The largest `exp` accepted: 2^53 - 1. */
export const MAX_NUMERIC_DATE = Number.MAX_SAFE_INTEGER;

/** The members sealgate reads; a repeat of one of these is refused, as serde refuses it. */
const KNOWN = new Set(["alg", "kid", "cty", "aud", "mbx", "exp", "enc", "ek", "psk_id", "crit", "zip"]);

/** A protected header whose shape was checked (authenticated only once the envelope opens). */
export interface Header {
  alg: Algorithm;
  kid: string;
  cty?: string;
  aud?: string;
  mbx?: string;
  exp?: number;
}

/** Whether `value` is 1 to 128 characters of `[A-Za-z0-9_.~-]`. */
export function isPlainIdentifier(value: string): boolean {
  return value.length > 0 && value.length <= MAX_BINDING_LEN && /^[A-Za-z0-9_.~-]+$/.test(value);
}

/** Whether `name` is an HPKE algorithm of the draft that sealgate does not implement. */
function isKnownHpke(name: string): boolean {
  return /^HPKE-[0-7](-KE)?$/.test(name);
}

function stringMember(raw: Record<string, unknown>, name: string): string | undefined {
  if (!(name in raw)) return undefined;
  const value = raw[name];
  if (typeof value !== "string") throw new EnvelopeError("InvalidHeader", name);
  return value;
}

/** An `exp`: a non-negative JSON integer (no fraction, no exponent) of at most 2^53 - 1. */
function parseExp(rawText: string): number {
  if (!/^(0|[1-9][0-9]*)$/.test(rawText) || BigInt(rawText) > BigInt(MAX_NUMERIC_DATE)) {
    throw new EnvelopeError("InvalidHeader", "exp");
  }
  return Number(rawText);
}

/** Parses the decoded protected header bytes strictly, with the Rust crate's error kinds. */
export function parseHeader(bytes: Uint8Array): Header {
  let text: string;
  let raw: unknown;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
    raw = JSON.parse(text);
  } catch {
    throw new EnvelopeError("HeaderNotJson");
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new EnvelopeError("HeaderNotJson");
  // serde reads the known members into values (refusing a repeat, a lone surrogate, deep
  // nesting) and every member name as a string; it skips the other members' values unread.
  const { members } = scanMembers(text);
  const object = raw as Record<string, unknown>;
  const seen = new Set<string>();
  for (const [name] of members) {
    if (hasLoneSurrogate(name)) throw new EnvelopeError("HeaderNotJson");
    if (!KNOWN.has(name)) continue;
    if (seen.has(name) || !serdeReadable(object[name], 2)) throw new EnvelopeError("HeaderNotJson");
    seen.add(name);
  }
  if ("enc" in object) throw new EnvelopeError("EncPresent");
  if ("ek" in object) throw new EnvelopeError("EkPresent");
  if (!("alg" in object)) throw new EnvelopeError("MissingHeader", "alg");
  const alg = object.alg;
  if (typeof alg !== "string") throw new EnvelopeError("InvalidHeader", "alg");
  if (!isAlgorithm(alg)) throw new EnvelopeError(isKnownHpke(alg) ? "UnsupportedAlgorithm" : "UnknownAlgorithm", alg);
  for (const name of ["psk_id", "crit", "zip"]) {
    if (name in object) throw new EnvelopeError("UnsupportedHeader", name);
  }
  const kid = stringMember(object, "kid");
  if (kid === undefined) throw new EnvelopeError("MissingHeader", "kid");
  const header: Header = { alg, kid };
  if ("exp" in object) header.exp = parseExp(members.find(([name]) => name === "exp")![1]);
  for (const name of ["cty", "aud", "mbx"] as const) {
    const value = stringMember(object, name);
    if (value !== undefined) header[name] = value;
  }
  return header;
}

/** The header as JSON, members in the Rust crate's order, so that both write the same bytes. */
export function headerToJson(header: Header): string {
  const ordered: Record<string, unknown> = { alg: header.alg, kid: header.kid };
  for (const name of ["cty", "aud", "mbx", "exp"] as const) {
    if (header[name] !== undefined) ordered[name] = header[name];
  }
  return JSON.stringify(ordered);
}
