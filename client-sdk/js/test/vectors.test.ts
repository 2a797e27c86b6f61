/** Known answers: the RFC 9180 vectors and the JOSE-HPKE examples the Rust crate vendors, and sealgate's pinned envelopes. */

import assert from "node:assert/strict";
import { test } from "node:test";

import { Aes128Gcm, CipherSuite, DhkemX25519HkdfSha256 as NativeX25519, HkdfSha256 as NativeHkdf } from "@hpke/core";
import { Chacha20Poly1305 } from "@hpke/chacha20poly1305";
import { DhkemX25519HkdfSha256, HkdfSha256 } from "@hpke/dhkem-x25519";

import { open, parseEnvelope, parsePrivateJwk, parsePublicJwk, seal, thumbprint } from "../src/index.js";
import { privateKeyFromBytes } from "../src/jwk.js";
import { hex, readVectors, toHex } from "./paths.js";

interface Rfc9180 {
  mode: number;
  aead_id: number;
  info: string;
  ikmR: string;
  ikmE: string;
  skRm: string;
  pkRm: string;
  enc: string;
  psk?: string;
  psk_id?: string;
  encryptions: { aad: string; ct: string; pt: string }[];
  exports: { exporter_context: string; L: number; exported_value: string }[];
}

/** The suite of `aeadId`, with WebCrypto's X25519 and HKDF (`native`) or the pure JavaScript ones: the package uses either. */
function suite(aeadId: number, native = false): CipherSuite {
  const aead = aeadId === 1 ? new Aes128Gcm() : new Chacha20Poly1305();
  if (native) return new CipherSuite({ kem: new NativeX25519(), kdf: new NativeHkdf(), aead });
  return new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead });
}

test("RFC 9180 vectors: DeriveKeyPair, every encryption and export, both AEADs, base and psk, both X25519s", async () => {
  const vectors = readVectors<Rfc9180[]>("rfc9180-x25519.json");
  assert.equal(vectors.length, 4);
  for (const [v, native] of vectors.flatMap((v) => [[v, false], [v, true]] as const)) {
    const s = suite(v.aead_id, native);
    const recipient = await s.kem.deriveKeyPair(hex(v.ikmR));
    assert.equal(toHex(await s.kem.serializePrivateKey(recipient.privateKey)), v.skRm);
    assert.equal(toHex(await s.kem.serializePublicKey(recipient.publicKey)), v.pkRm);
    const psk = v.mode === 1 ? { psk: { id: hex(v.psk_id!), key: hex(v.psk!) } } : {};
    const sender = await s.createSenderContext({ recipientPublicKey: recipient.publicKey, ekm: hex(v.ikmE), info: hex(v.info), ...psk });
    assert.equal(toHex(sender.enc), v.enc);
    const receiver = await s.createRecipientContext({ recipientKey: recipient.privateKey, enc: hex(v.enc), info: hex(v.info), ...psk });
    for (const e of v.encryptions) {
      assert.equal(toHex(await sender.seal(hex(e.pt), hex(e.aad))), e.ct);
      assert.equal(toHex(await receiver.open(hex(e.ct), hex(e.aad))), e.pt);
    }
    for (const x of v.exports) {
      assert.equal(toHex(await receiver.export(hex(x.exporter_context), x.L)), x.exported_value);
    }
  }
});

const PLAINTEXT =
  "You can trust us to stick with you through thick and thin-to the bitter end. And you can trust us to keep any secret of yours-closer than you keep it yourself. But you cannot trust us to let you face trouble alone, and go off without a word. We are your friends, Frodo.";

test("JOSE-HPKE examples (HPKE-3, HPKE-4) open to the pinned plaintext", async () => {
  const vectors = readVectors<{ alg: string; jwk: Record<string, string>; compact: string }[]>("jose-hpke-x25519.json");
  assert.deepEqual(vectors.map((v) => v.alg).sort(), ["HPKE-3", "HPKE-4"]);
  for (const v of vectors) {
    assert.equal(await thumbprint({ x: v.jwk.x }), v.jwk.kid);
    const key = await parsePrivateJwk(v.jwk);
    assert.equal(key.publicKey.alg, v.alg);
    const { d: _d, ...publicJwk } = v.jwk;
    assert.equal((await parsePublicJwk(publicJwk)).kid, v.jwk.kid);
    assert.equal(parseEnvelope(v.compact).header.cty, undefined);
    assert.equal(new TextDecoder().decode(await open(v.jwk, v.compact)), PLAINTEXT);
  }
});

/** The same pins as crypto/tests/kat_jose.rs: fixed key (ikm 0x11 × 32), randomness 0x22 × 32. */
const PINNED: [string, string][] = [
  [
    "HPKE-4",
    "eyJhbGciOiJIUEtFLTQiLCJraWQiOiJGYmN6eUJVd28wcko3WTJzZWRvRWhRQTRfRHJnOEZPYjBJNXRpRWdjZHo0IiwiY3R5IjoiSldUIiwiYXVkIjoiY2xpZW50LTEiLCJtYngiOiJtYWlsYm94LTEiLCJleHAiOjE5MDAwMDAwMDB9.47lwiqohp_HmKpXuKNHl1gsPzu1saFmQE6VLMY6eCxU..pHl0sTF38Wf07dkERv6p-1hYuVa7aZOajUxAj9pOxzWZISrrEZZVLYM7W3z59fKCovoUae9ww2TgnOjXCH8.",
  ],
  [
    "HPKE-3",
    "eyJhbGciOiJIUEtFLTMiLCJraWQiOiJGYmN6eUJVd28wcko3WTJzZWRvRWhRQTRfRHJnOEZPYjBJNXRpRWdjZHo0IiwiY3R5IjoiSldUIiwiYXVkIjoiY2xpZW50LTEiLCJtYngiOiJtYWlsYm94LTEiLCJleHAiOjE5MDAwMDAwMDB9.47lwiqohp_HmKpXuKNHl1gsPzu1saFmQE6VLMY6eCxU..xUipSTh0OeFvuJ0DpB-l-pRjvGhJDxk1MR8AVKAHDL1HJbuj91mv1i4boJyEJSoi3jbgM61pnhB8XVXdKLU.",
  ],
];

test("sealing with fixed randomness reproduces the Rust crate's pinned envelopes byte for byte", async () => {
  const token = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln";
  for (const [alg, expected] of PINNED) {
    const pair = await suite(1).kem.deriveKeyPair(new Uint8Array(32).fill(0x11));
    const secret = new Uint8Array(await suite(1).kem.serializePrivateKey(pair.privateKey));
    const key = await privateKeyFromBytes(secret, alg as "HPKE-3" | "HPKE-4");
    const sealed = await seal(key.publicKey, token, { aud: "client-1", mbx: "mailbox-1", exp: 1_900_000_000, ephemeralIkm: new Uint8Array(32).fill(0x22) });
    assert.equal(sealed, expected, alg);
    assert.equal(new TextDecoder().decode(await open(key, sealed, { aud: "client-1", mbx: "mailbox-1", now: 1_800_000_000 })), token);
  }
});
