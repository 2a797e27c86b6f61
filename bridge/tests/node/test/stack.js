// Starts a gateway, the test issuer and a sealgate bridge on loopback, and plays the browser's and the phone's parts of a sign-in.

import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));

/** The `sealgate` binary: SEALGATE_BIN, or the debug build of this repository. */
export const SEALGATE_BIN = resolve(process.env.SEALGATE_BIN ?? resolve(HERE, "../../../../target/debug/sealgate"));
/** The test issuer beside it (`cargo build -p sealgate-client --example test_issuer`). */
export const TEST_ISSUER_BIN = join(dirname(SEALGATE_BIN), "examples", "test_issuer");

/** The phone token's issuer, trusted by the bridge. */
export const PHONE_ISSUER = "https://issuer.demo.invalid";
/** The website's registered redirect URI (nothing listens there: the test reads the redirects). */
export const REDIRECT_URI = "http://127.0.0.1:7777/cb";
/** The confidential client (ES256 ID tokens). */
export const CONFIDENTIAL = { client_id: "node-confidential", client_secret: "node-secret-0123456789abcdef" };
/** The public client (PKCE, no secret, RS256 ID tokens). */
export const PUBLIC = { client_id: "node-public" };

const COOKIE = "sealgate_bridge_session";

/** `count` distinct free loopback TCP ports (all held open together, so none repeats). */
async function freePorts(count) {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise((done, fail) => {
          const server = createServer();
          server.once("error", fail);
          server.listen(0, "127.0.0.1", () => done(server));
        }),
    ),
  );
  const ports = servers.map((server) => server.address().port);
  await Promise.all(servers.map((server) => new Promise((done) => server.close(done))));
  return ports;
}

function sleep(ms) {
  return new Promise((done) => setTimeout(done, ms));
}

/** A child process whose output is kept for error messages. */
function launch(name, bin, args, options = {}) {
  const child = spawn(bin, args, { env: { ...process.env, NO_COLOR: "1" }, stdio: ["pipe", "pipe", "pipe"], ...options });
  const entry = { name, child, log: "", exited: null };
  child.stderr.on("data", (chunk) => {
    entry.log = (entry.log + chunk.toString()).slice(-8000);
  });
  child.on("exit", (code, signal) => {
    entry.exited = signal ?? code;
  });
  child.on("error", (error) => {
    entry.exited = error.message;
    entry.log += `\n${error.message}`;
  });
  return entry;
}

/** Waits until `url` answers 200, or fails with the process's log. */
async function waitHealthy(url, entry, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (entry.exited !== null) throw new Error(`${entry.name} exited (${entry.exited}): ${entry.log}`);
    try {
      const reply = await fetch(url);
      if (reply.status === 200) return;
    } catch {
      // not listening yet
    }
    await sleep(50);
  }
  throw new Error(`${entry.name} did not answer ${url} within ${timeoutMs} ms: ${entry.log}`);
}

/** Runs `bin args` to completion; resolves with its exit code and output. */
function run(bin, args) {
  return new Promise((done) => {
    const child = spawn(bin, args, { env: { ...process.env, NO_COLOR: "1" }, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk) => (output += chunk));
    child.stderr.on("data", (chunk) => (output += chunk));
    child.on("error", (error) => done({ code: -1, output: error.message }));
    child.on("exit", (code) => done({ code, output }));
  });
}

/** The bridge's configuration file. */
function bridgeConfig(bridgePort, gatewayPort) {
  return `# The bridge under test: two clients and the test issuer.
issuer = "http://127.0.0.1:${bridgePort}"
listen = "127.0.0.1:${bridgePort}"
gateway = "http://127.0.0.1:${gatewayPort}"
credentials = "gw-credentials.json"
signing_key = "signing.pem"
signin_ttl_secs = 120

[[clients]]
client_id = "${CONFIDENTIAL.client_id}"
client_secret = "${CONFIDENTIAL.client_secret}"
redirect_uris = ["${REDIRECT_URI}"]
name = "Node demo"
id_token_signed_response_alg = "ES256"

[[clients]]
client_id = "${PUBLIC.client_id}"
redirect_uris = ["${REDIRECT_URI}"]
name = "Node public"

[[trusted_issuers]]
issuer = "${PHONE_ISSUER}"
jwks_file = "issuer.jwks"
`;
}

/**
 * A running stack: gateway, test issuer, bridge. `stop()` ends every child and removes the
 * temporary directory; it is safe to call after a partial start.
 */
export class Stack {
  constructor() {
    this.children = [];
    this.dir = null;
    this.bridge = null;
    this.issuerLines = null;
    this.issuerQueue = Promise.resolve();
  }

  async start() {
    this.dir = await mkdtemp(join(tmpdir(), "sealgate-bridge-node-"));
    const [gatewayPort, metricsPort, bridgePort] = await freePorts(3);

    const gateway = launch("gateway", SEALGATE_BIN, ["serve", "--listen", `127.0.0.1:${gatewayPort}`, "--metrics-listen", `127.0.0.1:${metricsPort}`, "--store", "memory"]);
    this.children.push(gateway);

    const issuer = launch("test_issuer", TEST_ISSUER_BIN, ["--jwks-out", join(this.dir, "issuer.jwks"), "--issuer", PHONE_ISSUER, "--subject", "alice", "--claim", "name=Alice Example", "--claim", "email=alice@example.com"]);
    this.children.push(issuer);
    this.issuer = issuer;
    this.issuerLines = createInterface({ input: issuer.child.stdout })[Symbol.asyncIterator]();

    await waitHealthy(`http://127.0.0.1:${gatewayPort}/healthz`, gateway);
    let timer;
    const timeout = new Promise((done) => (timer = setTimeout(() => done({ value: "(timed out)" }), 20_000)));
    const ready = await Promise.race([this.issuerLines.next(), timeout]).finally(() => clearTimeout(timer));
    if (ready.value !== "ready") throw new Error(`test_issuer did not print ready (${ready.value}): ${issuer.log}`);

    const config = join(this.dir, "bridge.toml");
    await writeFile(config, bridgeConfig(bridgePort, gatewayPort));
    const bridge = launch("bridge", SEALGATE_BIN, ["bridge", "--config", config, "--log-format", "text"]);
    this.children.push(bridge);
    this.bridge = `http://127.0.0.1:${bridgePort}`;
    await waitHealthy(`${this.bridge}/healthz`, bridge);
    return this;
  }

  /** The children's recent logs, for a failure message. */
  logs() {
    return this.children.map((c) => `--- ${c.name} (exit ${c.exited})\n${c.log}`).join("\n");
  }

  async stop() {
    await Promise.all(
      this.children.map(
        ({ child, exited }) =>
          new Promise((done) => {
            if (exited !== null || child.exitCode !== null || child.signalCode !== null) return done();
            const force = setTimeout(() => child.kill("SIGKILL"), 5_000);
            child.once("exit", () => {
              clearTimeout(force);
              done();
            });
            child.stdin?.end();
            child.kill("SIGTERM");
          }),
      ),
    );
    this.children = [];
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
  }

  /** One ID token from the test issuer for `audience` and `nonce` (requests are serialised). */
  issueToken(audience, nonce) {
    const next = this.issuerQueue.then(async () => {
      this.issuer.child.stdin.write(`${audience} ${nonce}\n`);
      const line = await this.issuerLines.next();
      if (line.done) throw new Error(`test_issuer ended: ${this.issuer.log}`);
      return line.value.trim();
    });
    this.issuerQueue = next.catch(() => {});
    return next;
  }

  /**
   * The phone: takes CID and NONCE from the sign-in URI (or `nonce` instead), gets a token from
   * the test issuer and delivers it with `sealgate send`.
   */
  async phoneSends(signinUri, { nonce } = {}) {
    const params = new URL(signinUri).searchParams;
    const cid = params.get("cid");
    const token = await this.issueToken(cid, nonce ?? params.get("nonce"));
    const file = join(this.dir, `token-${Math.random().toString(36).slice(2)}.jwt`);
    await writeFile(file, `${token}\n`);
    const result = await run(SEALGATE_BIN, ["send", signinUri, "--token-file", file]);
    if (result.code !== 0) throw new Error(`sealgate send exited ${result.code}: ${result.output}`);
  }
}

/** The browser: follows the authorization URL to the sign-in page; its id, cookie and sign-in URI. */
export async function openSignin(authorizationUrl) {
  const authorize = await fetch(authorizationUrl, { redirect: "manual" });
  if (authorize.status !== 303) throw new Error(`/authorize answered ${authorize.status}: ${await authorize.text()}`);
  const location = authorize.headers.get("location");
  const setCookie = authorize.headers.get("set-cookie") ?? "";
  const cookie = setCookie.split(";")[0];
  if (!cookie.startsWith(`${COOKIE}=`)) throw new Error(`no session cookie: ${setCookie}`);
  const page = new URL(location, authorizationUrl);
  const html = await fetch(page, { headers: { cookie }, redirect: "manual" });
  const text = await html.text();
  if (html.status !== 200) throw new Error(`${page} answered ${html.status}: ${text}`);
  const match = /id="signin-request"[^>]*data-signin-request="([^"]+)"|data-signin-request="([^"]+)"[^>]*id="signin-request"/.exec(text);
  if (!match) throw new Error(`no signin-request element on the page: ${text}`);
  const uri = (match[1] ?? match[2]).replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
  return { page, cookie, uri, setCookie, html: text };
}

/** Long-polls the sign-in's status until it is no longer `waiting`. */
export async function waitForOutcome(browser, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const reply = await fetch(`${browser.page}/status?wait=10`, { headers: { cookie: browser.cookie } });
    const body = await reply.json();
    if (reply.status !== 200) throw new Error(`status answered ${reply.status}: ${JSON.stringify(body)}`);
    if (body.status !== "waiting") return body;
  }
  throw new Error("the sign-in stayed waiting");
}
