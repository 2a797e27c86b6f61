// openid-client v6 signs in through a real sealgate bridge (confidential and public clients), and every misuse ends in a clear OAuth error.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, describe, test } from "node:test";

import * as client from "openid-client";

import { CONFIDENTIAL, PHONE_ISSUER, PUBLIC, REDIRECT_URI, Stack, openSignin, waitForOutcome } from "./stack.js";

const SCOPE = "openid profile email";
const insecure = { execute: [client.allowInsecureRequests] };

let stack;
let issuer;

before(async () => {
  // A second try only if the first lost a race for a free port to another process.
  for (let attempt = 1; ; attempt += 1) {
    stack = new Stack();
    try {
      await stack.start();
      break;
    } catch (error) {
      await stack.stop();
      if (attempt === 2 || !/address already in use|Address in use|AddrInUse/i.test(error.message)) throw error;
      console.error(`starting the stack again: ${error.message}`);
    }
  }
  issuer = new URL(stack.bridge);
});

after(async () => {
  await stack?.stop();
});

/**
 * The confidential client's configuration from discovery, authenticating at /token with
 * `auth` ("basic" or "post", the library's default).
 */
function confidential({ secret = CONFIDENTIAL.client_secret, auth = "post" } = {}) {
  const method = auth === "basic" ? client.ClientSecretBasic(secret) : client.ClientSecretPost(secret);
  return client.discovery(issuer, CONFIDENTIAL.client_id, { client_secret: secret, id_token_signed_response_alg: "ES256" }, method, insecure);
}

/** The public client's configuration: no secret, `token_endpoint_auth_method` none. */
function publicClient() {
  return client.discovery(issuer, PUBLIC.client_id, undefined, client.None(), insecure);
}

/** The parameters a website keeps for one sign-in, and its authorization URL. */
async function prepare(config, { pkce = true } = {}) {
  const pkceCodeVerifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const params = { redirect_uri: REDIRECT_URI, scope: SCOPE, state, nonce };
  if (pkce) {
    params.code_challenge = await client.calculatePKCECodeChallenge(pkceCodeVerifier);
    params.code_challenge_method = "S256";
  }
  return { pkceCodeVerifier, state, nonce, url: client.buildAuthorizationUrl(config, params) };
}

/** The browser opens the sign-in page, the phone delivers (optionally with another nonce), the page sees the outcome. */
async function signIn(config, { phoneNonce } = {}) {
  const website = await prepare(config);
  const browser = await openSignin(website.url);
  assert.match(browser.uri, /^sealgate:signin\?v=1&gw=/);
  await stack.phoneSends(browser.uri, { nonce: phoneNonce });
  const outcome = await waitForOutcome(browser);
  return { ...website, browser, outcome, callback: new URL(outcome.redirect) };
}

/** An approved sign-in: the callback URL with its code. */
async function approvedSignIn(config) {
  const flow = await signIn(config);
  assert.equal(flow.outcome.status, "approved", JSON.stringify(flow.outcome));
  return flow;
}

function grant(config, flow, overrides = {}) {
  return client.authorizationCodeGrant(config, flow.callback, {
    pkceCodeVerifier: flow.pkceCodeVerifier,
    expectedState: flow.state,
    expectedNonce: flow.nonce,
    idTokenExpected: true,
    ...overrides,
  });
}

/** The `alg` in a JWS's protected header. */
function algOf(jws) {
  return JSON.parse(Buffer.from(jws.split(".")[0], "base64url").toString()).alg;
}

/** The `sub` the bridge issues for the phone's `iss` and `sub`: base64url(SHA-256(u64be(len(iss)) || iss || sub)). */
function namespacedSubject(iss, sub) {
  const length = Buffer.alloc(8);
  length.writeBigUInt64BE(BigInt(Buffer.byteLength(iss)));
  return createHash("sha256").update(length).update(iss).update(sub).digest("base64url");
}

/** Asserts that `promise` rejects with `Class` whose `error` member is `code`. */
async function rejectsWith(promise, Class, code) {
  await assert.rejects(promise, (error) => {
    assert.ok(error instanceof Class, `expected ${Class.name}, got ${error?.constructor?.name}: ${error?.message}`);
    assert.equal(error.error, code, `error code of ${error.message}`);
    return true;
  });
}

describe("discovery", () => {
  test("the bridge's metadata is what openid-client needs", async () => {
    const metadata = (await confidential()).serverMetadata();
    assert.equal(metadata.issuer, stack.bridge);
    assert.equal(metadata.authorization_endpoint, `${stack.bridge}/authorize`);
    assert.equal(metadata.token_endpoint, `${stack.bridge}/token`);
    assert.equal(metadata.userinfo_endpoint, `${stack.bridge}/userinfo`);
    assert.equal(metadata.jwks_uri, `${stack.bridge}/jwks`);
    assert.deepEqual(metadata.code_challenge_methods_supported, ["S256"]);
    assert.equal(metadata.authorization_response_iss_parameter_supported, true);
    assert.deepEqual(metadata.id_token_signing_alg_values_supported, ["RS256", "ES256"]);
    for (const method of ["client_secret_basic", "client_secret_post", "none"]) {
      assert.ok(metadata.token_endpoint_auth_methods_supported.includes(method), method);
    }
  });
});

describe("sign-in", () => {
  test("a confidential client (client_secret_basic) signs in with an ES256 ID token and reads /userinfo", async () => {
    const config = await confidential({ auth: "basic" });
    const flow = await approvedSignIn(config);
    assert.equal(flow.callback.origin + flow.callback.pathname, REDIRECT_URI);
    assert.equal(flow.callback.searchParams.get("iss"), stack.bridge);
    assert.equal(flow.callback.searchParams.get("state"), flow.state);
    assert.match(flow.browser.setCookie, /^sealgate_bridge_session=[^;]+; Path=\/signin\/; HttpOnly; SameSite=Lax$/);

    const tokens = await grant(config, flow);
    assert.equal(tokens.token_type.toLowerCase(), "bearer");
    assert.equal(algOf(tokens.id_token), "ES256");
    const claims = tokens.claims();
    assert.equal(claims.iss, stack.bridge);
    assert.equal(claims.aud, CONFIDENTIAL.client_id);
    assert.equal(claims.nonce, flow.nonce);
    assert.equal(claims.name, "Alice Example");
    assert.equal(claims.email, "alice@example.com");
    assert.equal(claims.sub, namespacedSubject(PHONE_ISSUER, "alice"));

    const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
    assert.equal(userinfo.sub, claims.sub);
    assert.equal(userinfo.name, "Alice Example");
    assert.equal(userinfo.email, "alice@example.com");
  });

  test("a public client signs in with PKCE and no secret (RS256 ID token)", async () => {
    const config = await publicClient();
    const flow = await approvedSignIn(config);
    const tokens = await grant(config, flow);
    assert.equal(algOf(tokens.id_token), "RS256");
    const claims = tokens.claims();
    assert.equal(claims.iss, stack.bridge);
    assert.equal(claims.aud, PUBLIC.client_id);
    assert.equal(claims.nonce, flow.nonce);
    assert.equal(claims.name, "Alice Example");
    assert.equal(claims.sub, namespacedSubject(PHONE_ISSUER, "alice"));
    const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
    assert.equal(userinfo.sub, claims.sub);
  });
});

describe("refusals", () => {
  test("a wrong PKCE verifier is invalid_grant", async () => {
    const config = await publicClient();
    const flow = await approvedSignIn(config);
    await rejectsWith(grant(config, flow, { pkceCodeVerifier: client.randomPKCECodeVerifier() }), client.ResponseBodyError, "invalid_grant");
  });

  test("a replayed code is invalid_grant and revokes the access token it issued", async () => {
    const config = await confidential();
    const flow = await approvedSignIn(config);
    const first = await grant(config, flow);
    const sub = first.claims().sub;
    assert.equal((await client.fetchUserInfo(config, first.access_token, sub)).sub, sub);

    await rejectsWith(grant(config, flow), client.ResponseBodyError, "invalid_grant");

    await assert.rejects(client.fetchUserInfo(config, first.access_token, sub), (error) => {
      assert.ok(error instanceof client.WWWAuthenticateChallengeError, `got ${error?.constructor?.name}: ${error?.message}`);
      assert.equal(error.status, 401);
      assert.equal(error.cause?.[0]?.scheme, "bearer");
      assert.equal(error.cause?.[0]?.parameters?.error, "invalid_token");
      return true;
    });
    const raw = await fetch(`${stack.bridge}/userinfo`, { headers: { authorization: `Bearer ${first.access_token}` } });
    assert.equal(raw.status, 401);
    assert.equal((await raw.json()).error, "invalid_token");
  });

  test("a wrong client secret is invalid_client, and leaves the code usable", async () => {
    const flow = await approvedSignIn(await confidential());
    const wrongSecret = "not-the-secret-0123456789abcdef";

    // client_secret_post: 400 with the error in the body (RFC 6749 §5.2).
    await rejectsWith(grant(await confidential({ secret: wrongSecret }), flow), client.ResponseBodyError, "invalid_client");

    // client_secret_basic: 401 with a Basic challenge, which the library reports first; the body says invalid_client.
    let challenge;
    await assert.rejects(grant(await confidential({ secret: wrongSecret, auth: "basic" }), flow), (error) => {
      assert.ok(error instanceof client.WWWAuthenticateChallengeError, `got ${error?.constructor?.name}: ${error?.message}`);
      assert.equal(error.status, 401);
      assert.equal(error.cause?.[0]?.scheme, "basic");
      challenge = error;
      return true;
    });
    assert.equal((await challenge.response.json()).error, "invalid_client");

    const tokens = await grant(await confidential(), flow);
    assert.equal(tokens.claims().name, "Alice Example");
  });

  test("a callback whose state differs is refused by the library", async () => {
    const config = await confidential();
    const flow = await approvedSignIn(config);
    await assert.rejects(grant(config, flow, { expectedState: client.randomState() }), (error) => {
      assert.ok(error instanceof client.ClientError, `got ${error?.constructor?.name}: ${error?.message}`);
      assert.equal(error.code, "OAUTH_INVALID_RESPONSE");
      assert.match(error.cause?.message ?? "", /"state"/);
      return true;
    });
  });

  test("a callback whose iss is not the bridge is refused by the library (RFC 9207)", async () => {
    const config = await confidential();
    const flow = await approvedSignIn(config);
    const forged = new URL(flow.callback);
    forged.searchParams.set("iss", "http://127.0.0.1:1");
    await assert.rejects(client.authorizationCodeGrant(config, forged, { pkceCodeVerifier: flow.pkceCodeVerifier, expectedState: flow.state, expectedNonce: flow.nonce, idTokenExpected: true }), (error) => {
      assert.ok(error instanceof client.ClientError, `got ${error?.constructor?.name}: ${error?.message}`);
      assert.match(error.cause?.message ?? "", /"iss"/);
      return true;
    });
    const tokens = await grant(config, flow);
    assert.equal(tokens.claims().iss, stack.bridge);
  });

  test("the sign-in page and its status need the session cookie", async () => {
    const config = await confidential();
    const website = await prepare(config);
    const browser = await openSignin(website.url);
    assert.equal((await fetch(browser.page, { redirect: "manual" })).status, 404);
    const status = await fetch(`${browser.page}/status`, { headers: { cookie: "sealgate_bridge_session=" + "A".repeat(43) } });
    assert.equal(status.status, 404);
    const cancel = await fetch(`${browser.page}/cancel`, { method: "POST", headers: { cookie: browser.cookie }, redirect: "manual" });
    assert.equal(cancel.status, 303);
    const callback = new URL(cancel.headers.get("location"));
    assert.equal(callback.searchParams.get("error"), "access_denied");
    assert.equal(callback.searchParams.get("state"), website.state);
  });

  test("/authorize for the public client without code_challenge redirects with invalid_request", async () => {
    const config = await publicClient();
    const website = await prepare(config, { pkce: false });
    assert.equal(website.url.searchParams.get("code_challenge"), null);
    const reply = await fetch(website.url, { redirect: "manual" });
    assert.equal(reply.status, 303);
    const callback = new URL(reply.headers.get("location"));
    assert.equal(callback.origin + callback.pathname, REDIRECT_URI);
    assert.equal(callback.searchParams.get("error"), "invalid_request");
    assert.equal(callback.searchParams.get("state"), website.state);
    assert.equal(callback.searchParams.get("iss"), stack.bridge);
    assert.equal(reply.headers.get("set-cookie"), null);
    await rejectsWith(
      client.authorizationCodeGrant(config, callback, { expectedState: website.state, expectedNonce: website.nonce, idTokenExpected: true }),
      client.AuthorizationResponseError,
      "invalid_request",
    );
  });

  test("an unregistered redirect_uri is a 400 page and never a redirect", async () => {
    const config = await confidential();
    const website = await prepare(config);
    const url = new URL(website.url);
    url.searchParams.set("redirect_uri", "http://127.0.0.1:7777/elsewhere");
    const reply = await fetch(url, { redirect: "manual" });
    assert.equal(reply.status, 400);
    assert.equal(reply.headers.get("location"), null);
    assert.match(reply.headers.get("content-type"), /^text\/html/);
    assert.match(await reply.text(), /redirect_uri/);
  });

  test("a phone token with the wrong nonce is denied with access_denied", async () => {
    const config = await confidential();
    const flow = await signIn(config, { phoneNonce: "wrong" });
    assert.equal(flow.outcome.status, "denied", JSON.stringify(flow.outcome));
    assert.equal(flow.callback.searchParams.get("error"), "access_denied");
    assert.equal(flow.callback.searchParams.get("code"), null);
    assert.equal(flow.callback.searchParams.get("state"), flow.state);
    assert.equal(flow.callback.searchParams.get("iss"), stack.bridge);
    await rejectsWith(grant(config, flow), client.AuthorizationResponseError, "access_denied");
  });
});
