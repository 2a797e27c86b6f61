/**
 * The shared rejection vectors (crypto/tests/data/rejections.json, written and checked by the
 * Rust crate): every case is refused here with the same error kind and value as in Rust.
 */

import assert from "node:assert/strict";
import { test } from "node:test";

import { open, parseJwks, parsePrivateJwk, parsePublicJwk, SealgateError, SignInRequest } from "../src/index.js";
import { readVectors } from "./paths.js";

interface Refusal {
  kind: string;
  detail?: string | number;
}

interface Rejections {
  keys: Record<string, unknown>;
  envelopes: { name: string; key: string; compact: string; error: Refusal }[];
  public_jwks: { name: string; text: string; error: Refusal }[];
  private_jwks: { name: string; text: string; error: Refusal }[];
  jwks: { name: string; text: string; error: Refusal }[];
  signin_requests: { name: string; uri: string; now: number; error: Refusal }[];
}

const file = readVectors<Rejections>("rejections.json");

async function refusal(attempt: () => Promise<unknown>): Promise<Refusal> {
  try {
    await attempt();
  } catch (error) {
    if (!(error instanceof SealgateError)) throw error;
    return error.detail === undefined ? { kind: error.kind } : { kind: error.kind, detail: error.detail };
  }
  return { kind: "accepted" };
}

test("envelopes the Rust crate refuses are refused with the same kind", async () => {
  assert.ok(file.envelopes.length > 200);
  for (const c of file.envelopes) {
    const got = await refusal(() => open(file.keys[c.key], c.compact, {}));
    assert.deepEqual(got, c.error, `${c.name}: ${c.compact.slice(0, 120)}`);
  }
});

test("JWKs and key sets the Rust crate refuses are refused with the same kind", async () => {
  const sections = [
    [file.public_jwks, parsePublicJwk],
    [file.private_jwks, parsePrivateJwk],
    [file.jwks, parseJwks],
  ] as const;
  for (const [cases, parse] of sections) {
    assert.ok(cases.length > 5);
    for (const c of cases) {
      assert.deepEqual(await refusal(() => parse(c.text)), c.error, `${c.name}: ${c.text.slice(0, 120)}`);
    }
  }
});

test("sign-in requests the Rust crate refuses are refused with the same kind", async () => {
  assert.ok(file.signin_requests.length > 20);
  for (const c of file.signin_requests) {
    assert.deepEqual(await refusal(async () => SignInRequest.parse(c.uri, c.now)), c.error, `${c.name}: ${c.uri}`);
  }
});
