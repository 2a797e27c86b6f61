/**
 * What JSON.parse does not tell: the top-level members of an object as written (to refuse a
 * repeated member and to read a number's exact text) and the nesting depth, which serde_json,
 * the Rust reader, limits.
 * @module
 */

/** The deepest nesting serde_json accepts. */
const MAX_DEPTH = 127;

/**
 * The top-level member names of a JSON object text (already known to be valid JSON) with the
 * raw text of each value, and whether nesting stays within serde_json's limit.
 */
export function scanMembers(text: string): { members: [string, string][]; tooDeep: boolean } {
  const members: [string, string][] = [];
  let depth = 0;
  let maxDepth = 0;
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
      maxDepth = Math.max(maxDepth, depth);
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
  return { members, tooDeep: maxDepth > MAX_DEPTH };
}

/** Parses JSON text as serde_json would accept it: `undefined` for what it refuses. */
export function parseJson(text: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  return scanMembers(text).tooDeep ? undefined : value;
}
