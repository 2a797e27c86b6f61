/**
 * Browser smoke: headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core) loads
 * the package as ES modules through an import map, seals with WebCrypto in the page, and the
 * Rust CLI opens it; the page also opens what the CLI sealed. Both algorithms.
 */

import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { extname, join, normalize, resolve } from "node:path";
import { test } from "node:test";

import { chromium } from "playwright-core";

import { sealgate } from "./cli.js";
import { ROOT } from "./paths.js";

const CHROMIUM = process.env.SEALGATE_CHROMIUM ?? "/usr/bin/chromium";
const PACKAGE = resolve(ROOT, "client-sdk/js");
const TOKEN = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl";

const IMPORTS = {
  "@hpke/core": "/node_modules/@hpke/core/esm/mod.js",
  "@hpke/common": "/node_modules/@hpke/common/esm/mod.js",
  "@hpke/dhkem-x25519": "/node_modules/@hpke/dhkem-x25519/esm/mod.js",
  "@hpke/chacha20poly1305": "/node_modules/@hpke/chacha20poly1305/esm/mod.js",
  jose: "/node_modules/jose/dist/webapi/index.js",
};

const PAGE = `<!doctype html><meta charset="utf-8"><title>sealgate smoke</title>
<script type="importmap">${JSON.stringify({ imports: IMPORTS })}</script>`;

/** Serves the page, the compiled package and its dependencies from client-sdk/js. */
function serve(): Promise<{ url: string; close(): void }> {
  const server = createServer((request, response) => {
    const path = new URL(request.url ?? "/", "http://x").pathname;
    if (path === "/") {
      response.writeHead(200, { "content-type": "text/html" }).end(PAGE);
      return;
    }
    const file = normalize(join(PACKAGE, path));
    const allowed = file.startsWith(join(PACKAGE, "dist")) || file.startsWith(join(PACKAGE, "node_modules"));
    if (!allowed || !existsSync(file)) {
      response.writeHead(404).end();
      return;
    }
    const type = extname(file) === ".js" ? "text/javascript" : "application/octet-stream";
    response.writeHead(200, { "content-type": type }).end(readFileSync(file));
  });
  return new Promise((done) =>
    server.listen(0, "127.0.0.1", () => done({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, close: () => server.close() })),
  );
}

test("a page seals with WebCrypto and the Rust CLI opens it, and the page opens what the CLI sealed", async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (scripts/test.sh does)`);
  const dir = mkdtempSync(join(tmpdir(), "sealgate-browser-"));
  const site = await serve();
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(error.message));
    await page.goto(site.url);
    assert.equal(await page.evaluate(() => typeof crypto.subtle.digest), "function");
    for (const alg of ["HPKE-4", "HPKE-3"]) {
      const keyFile = join(dir, `${alg}.jwk`);
      const publicJwk = JSON.parse(sealgate(["keygen", "--out", keyFile, "--alg", alg]));
      const sealed = await page.evaluate(
        async ([jwk, token]) => {
          const sdk = await import("/dist/src/index.js" as string);
          return sdk.seal(jwk, token, { aud: "client-1", mbx: "mailbox-1", exp: 1_900_000_000 });
        },
        [publicJwk, TOKEN] as const,
      );
      assert.equal(sealgate(["open", "--key", keyFile, "--aud", "client-1", "--mbx", "mailbox-1"], sealed), TOKEN, alg);

      const pubFile = join(dir, `${alg}.pub.jwk`);
      writeFileSync(pubFile, JSON.stringify(publicJwk));
      const fromRust = sealgate(["seal", "--to", pubFile, "--mbx", "mailbox-1", "--exp", "1900000000"], TOKEN).trim();
      const privateJwk = JSON.parse(readFileSync(keyFile, "utf8"));
      const opened = await page.evaluate(
        async ([jwk, compact]) => {
          const sdk = await import("/dist/src/index.js" as string);
          return new TextDecoder().decode(await sdk.open(jwk, compact, { mbx: "mailbox-1" }));
        },
        [privateJwk, fromRust] as const,
      );
      assert.equal(opened, TOKEN, alg);
    }
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    site.close();
  }
});
