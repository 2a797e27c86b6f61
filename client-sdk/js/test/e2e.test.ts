/**
 * End to end through a real gateway: the JS phone signs a user in to the Rust app (`sealgate
 * register` + `request`), the JS app receives from the Rust phone (`sealgate send`), and the JS
 * app receives a JS phone's token by webhook and verifies its Standard Webhooks signature.
 */

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, before, test } from "node:test";

import { AppClient, generateKeyPair, sendToken, verifyDelivery } from "../src/index.js";
import { sealgate, sealgateBin } from "./cli.js";
import { type RunningGateway, startGateway } from "./gateway.js";

const TOKEN = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl";
let gateway: RunningGateway;

before(async () => {
  gateway = await startGateway(["--allow-insecure-webhooks", "--allow-private-webhooks"]);
});
after(async () => {
  await gateway?.stop();
});

test("the JS phone signs a user in to the Rust app", async () => {
  const home = mkdtempSync(join(tmpdir(), "sealgate-js-home-"));
  const env = { ...process.env, HOME: home, XDG_CONFIG_HOME: join(home, ".config") };
  sealgate(["register", "--gateway", gateway.url, "--name", "rust app"], "", env);
  const request = spawn(sealgateBin(), ["request", "--no-qr", "--ttl", "60"], { env });
  const lines = createInterface({ input: request.stdout });
  const iterator = lines[Symbol.asyncIterator]();
  const uri = (await iterator.next()).value as string;
  assert.match(uri, /^sealgate:signin\?v=1&gw=/);
  assert.equal(await sendToken(uri, TOKEN), "stored");
  assert.equal((await iterator.next()).value, TOKEN);
  const code = await new Promise((done) => request.on("exit", done));
  assert.equal(code, 0);
  // A second phone answering the same request (a new envelope) is reported as a conflict.
  await assert.rejects(sendToken(uri, TOKEN), { kind: "MailboxConflict" });
});

test("the JS app receives from the Rust phone (sealgate send)", async () => {
  const { privateJwk } = await generateKeyPair();
  const app = await AppClient.register(gateway.url, "js app", privateJwk);
  const pending = await app.openMailbox({ ttlSecs: 60 });
  const waiting = app.waitForToken(pending);
  sealgate(["send", pending.uri], TOKEN);
  const received = await waiting;
  assert.equal(received.token, TOKEN);
  assert.equal(received.header.mbx, pending.mailboxId);
  assert.equal(received.header.aud, app.clientId);
  await app.delete();
});

function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((done) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => done(Buffer.concat(chunks)));
  });
}

test("the JS app receives a JS phone's token by webhook and checks its signature", async () => {
  let deliver: (value: { headers: IncomingMessage["headers"]; body: Buffer }) => void = () => {};
  const delivered = new Promise<{ headers: IncomingMessage["headers"]; body: Buffer }>((done) => (deliver = done));
  const receiver = createServer(async (request, response) => {
    const body = await readBody(request);
    response.writeHead(204).end();
    deliver({ headers: request.headers, body });
  });
  await new Promise<void>((done) => receiver.listen(0, "127.0.0.1", done));
  try {
    const { port } = receiver.address() as AddressInfo;
    const { privateJwk } = await generateKeyPair();
    const app = await AppClient.register(gateway.url, "js webhook app", privateJwk, { webhookUrl: `http://127.0.0.1:${port}/hook` });
    assert.match(app.webhookSecret ?? "", /^whsec_/);
    const pending = await app.openMailbox({ ttlSecs: 60 });
    assert.equal(await sendToken(pending.uri, TOKEN), "stored");
    const { headers, body } = await delivered;
    const plain = Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, String(value)]));
    const delivery = await verifyDelivery([app.webhookSecret!], plain, body);
    assert.equal(delivery.mailboxId, pending.mailboxId);
    assert.equal((await app.openDelivered(delivery)).token, TOKEN);
    await assert.rejects(verifyDelivery([app.webhookSecret!], plain, Buffer.concat([body, Buffer.from(" ")])), { kind: "BadSignature" });
  } finally {
    receiver.close();
  }
});
