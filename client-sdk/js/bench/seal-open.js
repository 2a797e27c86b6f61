// Seal and open per second in this JavaScript runtime, for a 1 KiB ID token, both algorithms.
// Run after `npm run build`: node bench/seal-open.js [seconds per measurement, default 3]
import { generateKeyPair, open, parsePrivateJwk, parsePublicJwk, seal } from "../dist/src/index.js";

const seconds = Number(process.argv[2] ?? 3);
const token = "x".repeat(1024);
const binding = { aud: "client-1", mbx: "mailbox-1", exp: 4_000_000_000 };

/** Runs `op` for `seconds` and returns operations per second. */
async function rate(op) {
  const end = performance.now() + seconds * 1000;
  let count = 0;
  while (performance.now() < end) {
    await op();
    count++;
  }
  return count / seconds;
}

for (const alg of ["HPKE-4", "HPKE-3"]) {
  const pair = await generateKeyPair({ alg });
  // Keys parsed once, as an app or phone holds them.
  const [publicKey, privateKey] = [await parsePublicJwk(pair.publicJwk), await parsePrivateJwk(pair.privateJwk)];
  const envelope = await seal(publicKey, token, binding);
  const sealRate = await rate(() => seal(publicKey, token, binding));
  const openRate = await rate(() => open(privateKey, envelope, { aud: "client-1", mbx: "mailbox-1" }));
  console.log(`${alg}: seal ${sealRate.toFixed(0)}/s, open ${openRate.toFixed(0)}/s (node ${process.version})`);
}
