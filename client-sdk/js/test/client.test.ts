/** Units of the client side: retry delays, the phone's deposit rules against a scripted gateway, webhooks, ID tokens. */

import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { test } from "node:test";

import { exportJWK, generateKeyPair as joseKeyPair, SignJWT } from "jose";

import { generateKeyPair, open, SignInRequest, sendToken, verifyDelivery, verifyIdToken } from "../src/index.js";
import { delay } from "../src/retry.js";

test("delay doubles, caps, jitters and honours Retry-After (the Rust table)", () => {
  const poll = { firstMs: 250, maxStepMs: 5_000 };
  const table: [number, number | undefined, number, number][] = [
    [1, undefined, 0, 250],
    [2, undefined, 0, 500],
    [3, undefined, 0, 1000],
    [5, undefined, 0, 4000],
    [6, undefined, 0, 5000],
    [40, undefined, 0, 5000],
    [1, undefined, 0.5, 281.25],
    [6, undefined, 0.75, 5937.5],
    [1, undefined, 7, 312.5],
    [1, 1, 0, 1000],
    [6, 1, 0, 5000],
    [1, 0, 0, 250],
  ];
  for (const [failures, retryAfter, jitter, expected] of table) assert.equal(delay(poll, failures, retryAfter, jitter), expected);
});

/** A gateway scripted by status codes for PUTs, serving `jwks`; records every deposited body. */
function scripted(jwks: object, statuses: number[]) {
  const bodies: string[] = [];
  const fetch = async (url: string, init?: RequestInit): Promise<Response> => {
    if (init?.method === "GET") return Response.json(jwks);
    bodies.push(String(init?.body));
    const status = statuses.shift() ?? 500;
    if (status === 0) throw new TypeError("connection refused");
    return new Response(status === 409 ? '{"type":"about:blank","detail":"conflict"}' : null, { status, headers: status === 429 ? { "retry-after": "0" } : {} });
  };
  return { fetch, bodies };
}

async function signIn() {
  const { privateJwk, publicJwk } = await generateKeyPair();
  const request = SignInRequest.create({ gateway: "http://gw.test", clientId: "client-1", mailboxId: "mailbox-1", keyThumbprint: publicJwk.kid!, expiresAt: Math.floor(Date.now() / 1000) + 60, nonce: "n" });
  return { privateJwk, publicJwk, uri: request.toUri() };
}

test("the phone retries the same envelope on connection errors, 429 and 503, and reports 409", async () => {
  const { privateJwk, publicJwk, uri } = await signIn();
  const gateway = scripted({ keys: [publicJwk] }, [0, 429, 503, 200]);
  assert.equal(await sendToken(uri, "a.b.c", { fetch: gateway.fetch }), "alreadyStored");
  assert.equal(gateway.bodies.length, 4);
  assert.equal(new Set(gateway.bodies).size, 1, "one envelope, resent as is");
  const opened = await open(privateJwk, gateway.bodies[0], { aud: "client-1", mbx: "mailbox-1" });
  assert.equal(new TextDecoder().decode(opened), "a.b.c");
  await assert.rejects(sendToken(uri, "a.b.c", { fetch: scripted({ keys: [publicJwk] }, [409]).fetch }), { kind: "MailboxConflict" });
});

test("the phone refuses to seal to a key the request did not vouch for", async () => {
  const { uri } = await signIn();
  const other = await generateKeyPair();
  const gateway = scripted({ keys: [other.publicJwk] }, [201]);
  await assert.rejects(sendToken(uri, "a.b.c", { fetch: gateway.fetch }), { kind: "KeyNotVouched" });
  assert.equal(gateway.bodies.length, 0);
  await assert.rejects(sendToken(uri, "a.b.c", { fetch: gateway.fetch, now: 4_000_000_000 }), { kind: "Expired" });
});

test("webhook deliveries verify as the Standard Webhooks example says", async () => {
  const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  const body = JSON.stringify({ type: "envelope.deposited", timestamp: "2026-12-01T12:00:00Z", data: { client_id: "c", mailbox_id: "m", envelope: "e.k..c." } });
  const sign = (id: string, ts: number, text: string) => `v1,${createHmac("sha256", Buffer.from(secret.slice(6), "base64")).update(`${id}.${ts}.${text}`).digest("base64")}`;
  // The specification's own example signature.
  assert.equal(sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, '{"test": 2432232314}'), "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
  const headers = { "webhook-id": "msg_1", "webhook-timestamp": "100", "webhook-signature": `v1,bm90LXRoaXMtb25l ${sign("msg_1", 100, body)}` };
  assert.deepEqual(await verifyDelivery([secret], headers, body, 100), { id: "msg_1", clientId: "c", mailboxId: "m", envelope: "e.k..c." });
  await assert.rejects(verifyDelivery([secret], headers, body, 100 + 301), { kind: "StaleTimestamp" });
  await assert.rejects(verifyDelivery([secret], headers, body.replace('"m"', '"n"'), 100), { kind: "BadSignature" });
  await assert.rejects(verifyDelivery(["whsec_AAAA"], headers, body, 100), { kind: "InvalidSecret" });
  await assert.rejects(verifyDelivery([secret], { ...headers, "webhook-signature": "v2,xx" }, body, 100), { kind: "MissingHeader", detail: "signature" });
  const other = '{"type":"other"}';
  await assert.rejects(verifyDelivery([secret], { ...headers, "webhook-signature": sign("msg_1", 100, other) }, other, 100), { kind: "NotAnEnvelopeEvent" });
});

test("ID tokens are verified for signature, aud, nonce, exp and iat", async () => {
  const { privateKey, publicKey } = await joseKeyPair("EdDSA", { crv: "Ed25519" });
  const jwk = { ...(await exportJWK(publicKey)), kid: "k1", alg: "EdDSA" };
  const now = Math.floor(Date.now() / 1000);
  const token = (claims: object, iat = now) => new SignJWT({ sub: "alice", nonce: "n1", ...claims }).setProtectedHeader({ alg: "EdDSA", kid: "k1" }).setIssuer("https://issuer").setAudience("app").setIssuedAt(iat).setExpirationTime(now + 60).sign(privateKey);
  const expected = { issuerKeys: { keys: [jwk] }, audience: "app", nonce: "n1", issuer: "https://issuer" };
  assert.equal((await verifyIdToken(await token({}), expected)).sub, "alice");
  await assert.rejects(verifyIdToken(await token({ nonce: "n2" }), expected), { kind: "IdToken" });
  await assert.rejects(verifyIdToken(await token({}), { ...expected, audience: "other" }), { kind: "IdToken" });
  await assert.rejects(verifyIdToken(await token({}), { ...expected, now: now + 3600 }), { kind: "IdToken" });
  await assert.rejects(verifyIdToken(await token({}, now + 3600), expected), { kind: "IdToken" });
});
