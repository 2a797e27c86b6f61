/**
 * Interop both ways with the Rust CLI (`sealgate keygen/seal/open`) and with pyhpke: envelopes
 * sealed by one open in the other, both algorithms, and a tampered envelope is refused by both.
 */

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { test } from "node:test";

import { generateKeyPair, open, parseEnvelope, seal } from "../src/index.js";
import { python, sealgate, sealgateFails } from "./cli.js";
import { ROOT } from "./paths.js";

const TOKEN = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl";
const dir = mkdtempSync(join(tmpdir(), "sealgate-js-"));

test("sealgate seal → JS open, and JS seal → sealgate open, both algorithms", async () => {
  for (const alg of ["HPKE-4", "HPKE-3"]) {
    const keyFile = join(dir, `rust-${alg}.jwk`);
    const publicJwk = JSON.parse(sealgate(["keygen", "--out", keyFile, "--force", "--alg", alg]));
    const privateJwk = JSON.parse(spawnSync("cat", [keyFile]).stdout.toString());
    const pubFile = join(dir, `rust-${alg}.pub.jwk`);
    writeFileSync(pubFile, JSON.stringify(publicJwk));
    const fromRust = sealgate(["seal", "--to", pubFile, "--aud", "client-1", "--mbx", "mailbox-1", "--exp", "1900000000"], TOKEN).trim();
    assert.deepEqual(parseEnvelope(fromRust).header, { alg, kid: publicJwk.kid, cty: "JWT", aud: "client-1", mbx: "mailbox-1", exp: 1_900_000_000 });
    assert.equal(new TextDecoder().decode(await open(privateJwk, fromRust, { aud: "client-1", mbx: "mailbox-1" })), TOKEN);

    const fromJs = await seal(publicJwk, TOKEN, { aud: "client-1", mbx: "mailbox-1", exp: 1_900_000_000 });
    assert.equal(sealgate(["open", "--key", keyFile, "--aud", "client-1", "--mbx", "mailbox-1"], fromJs), TOKEN);
    // A JS key opens what the CLI seals to it.
    const js = await generateKeyPair({ alg: alg as "HPKE-3" | "HPKE-4" });
    const jsKeyFile = join(dir, `js-${alg}.jwk`);
    writeFileSync(jsKeyFile, JSON.stringify(js.privateJwk));
    writeFileSync(`${jsKeyFile}.pub`, JSON.stringify({ keys: [js.publicJwk] }));
    const toJsKey = sealgate(["seal", "--to", `${jsKeyFile}.pub`, "--kid", js.publicJwk.kid!], "bytes").trim();
    assert.equal(new TextDecoder().decode(await open(js.privateJwk, toJsKey)), "bytes");
    assert.equal(sealgate(["open", "--key", jsKeyFile], await seal(js.publicJwk, "bytes")), "bytes");
  }
});

test("a tampered envelope is refused by both, with the same kind where Rust names one", async () => {
  const keyFile = join(dir, "tamper.jwk");
  const publicJwk = JSON.parse(sealgate(["keygen", "--out", keyFile, "--force"]));
  const privateJwk = JSON.parse(spawnSync("cat", [keyFile]).stdout.toString());
  const compact = await seal(publicJwk, TOKEN, { aud: "client-1", mbx: "mailbox-1", exp: 1_900_000_000 });
  const parts = compact.split(".");
  const flipped = parts[3].startsWith("A") ? `B${parts[3].slice(1)}` : `A${parts[3].slice(1)}`;
  const tampered = [parts[0], parts[1], "", flipped, ""].join(".");
  await assert.rejects(open(privateJwk, tampered), { kind: "Decryption" });
  assert.match(sealgateFails(["open", "--key", keyFile], tampered), /could not be decrypted/);
  const withIv = [parts[0], parts[1], "AAAA", parts[3], ""].join(".");
  await assert.rejects(open(privateJwk, withIv), { kind: "NonEmptyIv" });
  assert.match(sealgateFails(["open", "--key", keyFile], withIv), /initialization vector must be empty/);
});

function pyhpke(request: object): string {
  const run = spawnSync(python(), [resolve(ROOT, "client-sdk/js/test/pyhpke_peer.py")], { input: JSON.stringify(request), timeout: 30_000 });
  if (run.status !== 0) throw new Error(`pyhpke peer exited ${run.status}: ${run.stderr}`);
  return run.stdout.toString();
}

test("pyhpke opens what JS seals, and JS opens what pyhpke seals, both algorithms", async () => {
  for (const alg of ["HPKE-4", "HPKE-3"] as const) {
    const { privateJwk, publicJwk } = await generateKeyPair({ alg });
    assert.equal(pyhpke({ op: "open", jwk: privateJwk, compact: await seal(publicJwk, TOKEN, { mbx: "m" }) }), TOKEN);
    const fromPython = pyhpke({ op: "seal", jwk: publicJwk, plaintext: TOKEN });
    assert.equal(new TextDecoder().decode(await open(privateJwk, fromPython, { aud: "client-1", mbx: "mailbox-1" })), TOKEN);
  }
});
