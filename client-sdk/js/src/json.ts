/**
 * What JSON.parse does not tell: the top-level members of an object as written (to refuse a
 * repeated member and to read a number's exact text), and whether serde_json, the Rust reader,
 * would read a value (it limits nesting and refuses lone surrogates).
 * @module
 */

/** The deepest nesting serde_json accepts. */
const MAX_DEPTH = 127;

/**
 * The top-level member names of a JSON object text (already known to be valid JSON), in order
 * and with repeats, with the raw text of each value.
 */
export function scanMembers(text: string): { members: [string, string][] } {
  const members: [string, string][] = [];
  let depth = 0;
  let expectKey = false;
  let key: string | undefined;
  let valueStart = -1;
  for (let at = 0; at < text.length; at++) {
    const char = text[at];
    if (char === '"') {
      const start = at;
      for (at++; text[at] !== '"'; at++) if (text[at] === "\\") at++;
      if (depth === 1 && expectKey) {
        key = JSON.parse(text.slice(start, at + 1)) as string;
        expectKey = false;
      }
    } else if (char === "{" || char === "[") {
      depth++;
      if (depth === 1) expectKey = true;
    } else if (char === "}" || char === "]" || char === ",") {
      if (depth === 1 && key !== undefined) {
        members.push([key, text.slice(valueStart, at).trim()]);
        key = undefined;
      }
      if (char !== ",") depth--;
      else if (depth === 1) expectKey = true;
    } else if (char === ":" && depth === 1) {
      valueStart = at + 1;
    }
  }
  return { members };
}

/** Whether a string holds a lone UTF-16 surrogate, which serde_json refuses in what it reads. */
export function hasLoneSurrogate(text: string): boolean {
  return /[\uD800-\uDFFF]/u.test(text);
}

/**
 * Whether a parsed value is one serde_json reads into a `Value` at `depth` (1 for a top-level
 * value): nesting within its limit, no lone surrogate in any string or member name.
 */
export function serdeReadable(value: unknown, depth = 1): boolean {
  if (typeof value === "string") return !hasLoneSurrogate(value);
  if (typeof value !== "object" || value === null) return true;
  if (depth > MAX_DEPTH) return false;
  const entries = Array.isArray(value) ? value.map((item) => ["", item] as const) : Object.entries(value);
  return entries.every(([key, item]) => !hasLoneSurrogate(key) && serdeReadable(item, depth + 1));
}

/** Parses JSON text as serde_json would accept it into a `Value`: `undefined` for what it refuses. */
export function parseJson(text: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  return serdeReadable(value) ? value : undefined;
}
