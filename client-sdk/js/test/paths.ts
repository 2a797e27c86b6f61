/** Where the test suites find the repository's shared data and the Rust binary. */

import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root (tests run from dist/test/). */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../../..");

/** Reads a JSON file of the Rust crate's test data (crypto/tests/data/). */
export function readVectors<T>(name: string): T {
  return JSON.parse(readFileSync(resolve(ROOT, "crypto/tests/data", name), "utf8")) as T;
}

/** Hex to bytes. */
export function hex(text: string): Uint8Array {
  return Uint8Array.from(text.match(/../g) ?? [], (pair) => parseInt(pair, 16));
}

/** Bytes to hex. */
export function toHex(bytes: ArrayBuffer | Uint8Array): string {
  return Buffer.from(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes)).toString("hex");
}
