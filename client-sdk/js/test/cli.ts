/** Running the Rust `sealgate` binary and the Python peer from the JavaScript tests. */

import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { resolve } from "node:path";

import { ROOT } from "./paths.js";

/** The `sealgate` binary: `$SEALGATE_BIN`, else target/debug/sealgate; missing fails the test (never skips). */
export function sealgateBin(): string {
  const bin = process.env.SEALGATE_BIN ?? resolve(ROOT, "target/debug/sealgate");
  if (!existsSync(bin)) throw new Error(`${bin} is missing: build it with \`cargo build -p sealgate-cli\``);
  return bin;
}

/** The interop virtualenv's Python (`$SEALGATE_PYTHON`, else .venv/bin/python, made by scripts/test.sh). */
export function python(): string {
  const bin = process.env.SEALGATE_PYTHON ?? resolve(ROOT, ".venv/bin/python");
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run scripts/test.sh (it makes .venv with pyhpke)`);
  return bin;
}

/** Runs `sealgate ARGS` with `stdin`; returns stdout, throws with stderr on a non-zero exit. */
export function sealgate(args: string[], stdin: string | Uint8Array = "", env: NodeJS.ProcessEnv = process.env): string {
  const run = spawnSync(sealgateBin(), args, { input: stdin, env, timeout: 30_000 });
  if (run.status !== 0) throw new Error(`sealgate ${args.join(" ")} exited ${run.status}: ${run.stderr}`);
  return run.stdout.toString();
}

/** Runs `sealgate ARGS`, expecting a failure; returns its stderr. */
export function sealgateFails(args: string[], stdin: string): string {
  const run = spawnSync(sealgateBin(), args, { input: stdin, timeout: 30_000 });
  if (run.status === 0) throw new Error(`sealgate ${args.join(" ")} succeeded: ${run.stdout}`);
  return run.stderr.toString();
}
