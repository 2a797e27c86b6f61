/** Units: keys, seal and open, the binding checks, the sign-in request codec, strict base64url. */

import assert from "node:assert/strict";
import { test } from "node:test";

import { base64url, generateKeyPair, open, openWithHeader, parseEnvelope, seal, SignInRequest, thumbprint } from "../src/index.js";
import { isLowOrder } from "../src/jwk.js";

const TOKEN = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl";
const BINDING = { aud: "client-1", mbx: "mailbox-1", exp: 1_900_000_000 };

test("seal then open, both algorithms; kid is the thumbprint; a JWT gets cty JWT", async () => {
  for (const alg of ["HPKE-4", "HPKE-3"] as const) {
    const { privateJwk, publicJwk } = await generateKeyPair({ alg });
    assert.equal(publicJwk.kid, await thumbprint(publicJwk));
    assert.equal("d" in publicJwk, false);
    const compact = await seal({ keys: [publicJwk] }, TOKEN, BINDING);
    const { header, plaintext } = await openWithHeader(privateJwk, compact, { ...BINDING, now: 1_800_000_000 });
    assert.deepEqual(header, { alg, kid: publicJwk.kid, cty: "JWT", ...BINDING });
    assert.equal(new TextDecoder().decode(plaintext), TOKEN);
    const plain = parseEnvelope(await seal(publicJwk, new Uint8Array([1, 2, 3]))).header;
    assert.deepEqual(plain, { alg, kid: publicJwk.kid });
  }
});

test("open checks aud, mbx and exp like check_binding", async () => {
  const { privateJwk, publicJwk } = await generateKeyPair();
  const compact = await seal(publicJwk, TOKEN, BINDING);
  const kind = async (options: object) => {
    try {
      await open(privateJwk, compact, options);
      return "opened";
    } catch (error) {
      return (error as { kind: string }).kind;
    }
  };
  assert.equal(await kind({ ...BINDING, now: 1_899_999_999 }), "opened");
  assert.equal(await kind({ ...BINDING, now: 1_900_000_000 }), "Expired");
  assert.equal(await kind({ ...BINDING, aud: "client-2", now: 0 }), "WrongClient");
  assert.equal(await kind({ ...BINDING, mbx: "mailbox-2", now: 0 }), "WrongMailbox");
  const unbound = await seal(publicJwk, TOKEN);
  await assert.rejects(open(privateJwk, unbound, { aud: "client-1" }), { kind: "Missing", detail: "aud" });
  await assert.rejects(open(privateJwk, unbound, { mbx: "mailbox-1" }), { kind: "Missing", detail: "mbx" });
  const noExp = await seal(publicJwk, TOKEN, { aud: "client-1", mbx: "mailbox-1" });
  await assert.rejects(open(privateJwk, noExp, { aud: "client-1" }), { kind: "Missing", detail: "exp" });
});

test("seal refuses what the Rust crate refuses", async () => {
  const { publicJwk } = await generateKeyPair();
  await assert.rejects(seal(publicJwk, new Uint8Array(8193)), { kind: "PlaintextTooLarge" });
  await assert.rejects(seal(publicJwk, TOKEN, { mbx: 'a"b' }), { kind: "InvalidBinding", detail: "mbx" });
  await assert.rejects(seal(publicJwk, TOKEN, { exp: 2 ** 53 }), { kind: "InvalidBinding", detail: "exp" });
  await assert.rejects(seal(publicJwk, TOKEN, { kid: "other" }), { kind: "NoMatchingKey" });
  await assert.rejects(seal({ ...publicJwk, d: "AAAA" }, TOKEN), { kind: "PrivateKeyMaterial" });
  assert.ok(await seal(publicJwk, new Uint8Array(8192)));
});

test("the low-order check agrees with X25519 itself", async () => {
  const { publicJwk } = await generateKeyPair();
  assert.equal(isLowOrder(base64url.decode(publicJwk.x)!), false);
  const zero = { kty: "OKP", crv: "X25519", x: base64url.encode(new Uint8Array(32)) };
  await assert.rejects(seal(zero, TOKEN), { kind: "LowOrderPoint" });
});

test("sign-in requests round-trip as the Rust codec writes them", () => {
  const kid = "EMf0FmafX1CDECti7cvCWZddOvzvPf3_nmXI39eiO18";
  const request = SignInRequest.create({ gateway: "https://gw.example.com/", clientId: "Zm9vYmFyYmF6cXV4cXV1eA", mailboxId: "bWFpbGJveC1pZC0xMjM0NQ", keyThumbprint: kid, expiresAt: 2_000, nonce: "n-0S6_WzA2Mj" });
  const uri = request.toUri();
  assert.equal(uri, `sealgate:signin?v=1&gw=https%3A%2F%2Fgw.example.com&cid=Zm9vYmFyYmF6cXV4cXV1eA&mbx=bWFpbGJveC1pZC0xMjM0NQ&kid=${kid}&exp=2000&nonce=n-0S6_WzA2Mj`);
  assert.deepEqual(SignInRequest.parse(uri, 1_000), request);
  assert.equal(request.mailboxUrl(), "https://gw.example.com/v1/mailboxes/bWFpbGJveC1pZC0xMjM0NQ");
  assert.equal(request.jwksUrl(), "https://gw.example.com/v1/clients/Zm9vYmFyYmF6cXV4cXV1eA/jwks");
  assert.throws(() => SignInRequest.parse(uri, 2_000), { kind: "Expired", detail: 2_000 });
});

test("base64url is strict", () => {
  for (const bytes of [[], [0x66], [0x66, 0x6f], [0x66, 0x6f, 0x6f], [0xfb, 0xff, 0xfe]]) {
    assert.deepEqual([...base64url.decode(base64url.encode(Uint8Array.from(bytes)))!], bytes);
  }
  assert.equal(base64url.encode(Uint8Array.from([0xfb, 0xff])), "-_8");
  for (const bad of ["Zg==", "Zg=", "+/8", "Zm 9v", "Zh", "Z"]) assert.equal(base64url.decode(bad), undefined, bad);
});
