/**
 * Strict base64url (RFC 4648 §5, no padding), as JOSE and the Rust crate use it: padding, the
 * standard alphabet, whitespace and non-canonical trailing bits are refused.
 * @module
 */

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const VALUES = new Map([...ALPHABET].map((char, value) => [char, value]));

/** Encodes bytes as unpadded base64url. */
export function encode(bytes: Uint8Array): string {
  let out = "";
  for (let at = 0; at < bytes.length; at += 3) {
    const chunk = (bytes[at] << 16) | ((bytes[at + 1] ?? 0) << 8) | (bytes[at + 2] ?? 0);
    const chars = Math.min(4, Math.ceil(((bytes.length - at) * 8) / 6));
    for (let i = 0; i < chars; i++) out += ALPHABET[(chunk >> (18 - 6 * i)) & 63];
  }
  return out;
}

/** Encodes a string's UTF-8 bytes as unpadded base64url. */
export function encodeText(text: string): string {
  return encode(new TextEncoder().encode(text));
}

/**
 * Decodes strict unpadded base64url; `undefined` when the text is not exactly that (the
 * caller turns it into its own typed error).
 */
export function decode(text: string): Uint8Array | undefined {
  if (text.length % 4 === 1) return undefined;
  const out = new Uint8Array(Math.floor((text.length * 6) / 8));
  let buffer = 0;
  let bits = 0;
  let at = 0;
  for (const char of text) {
    const value = VALUES.get(char);
    if (value === undefined) return undefined;
    buffer = ((buffer << 6) | value) & 0xffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[at++] = (buffer >> bits) & 0xff;
    }
  }
  // The unused low bits of the last character must be zero.
  if ((buffer & ((1 << bits) - 1)) !== 0) return undefined;
  return out;
}
