import { createHash } from 'crypto';

/**
 * Canonical JSON: object keys sorted, arrays in order, no whitespace. Two values that mean the same
 * thing serialise to the same string whatever order their keys were written in, so the string can be
 * hashed into a cache key.
 *
 * Anything JSON would silently change is rejected instead (NaN/Infinity become null, functions vanish,
 * Dates/Maps/typed arrays turn into something else), because a cache key that quietly drops part of
 * its input would let two different experiments share one artifact.
 *
 * One deliberate exception: an object property whose value is `undefined` is omitted, exactly as if
 * the key were absent, because that is what an unset optional config field means. `undefined` at the
 * top level or inside an array has no such reading and is rejected.
 */
export function stableStringify(value: unknown): string {
  return write(value, '$', new Set());
}

function write(value: unknown, path: string, ancestors: Set<object>): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`stableStringify: ${path} is ${value}, which JSON cannot represent`);
      // JSON.stringify gives the shortest round-tripping form and maps -0 to 0: already canonical.
      return JSON.stringify(value);
    case 'undefined':
      throw new TypeError(`stableStringify: ${path} is undefined`);
    case 'function':
    case 'symbol':
    case 'bigint':
      throw new TypeError(`stableStringify: ${path} is a ${typeof value}, which is not JSON data`);
  }
  const obj = value as object;
  if (ancestors.has(obj)) throw new TypeError(`stableStringify: ${path} refers back to one of its parents (cycle)`);
  ancestors.add(obj);
  try {
    if (Array.isArray(obj)) {
      return `[${obj.map((item, i) => write(item, `${path}[${i}]`, ancestors)).join(',')}]`;
    }
    const proto = Object.getPrototypeOf(obj);
    if (proto !== Object.prototype && proto !== null) {
      const kind = (obj as { constructor?: { name?: string } }).constructor?.name ?? 'non-plain object';
      throw new TypeError(`stableStringify: ${path} is a ${kind}; only plain objects, arrays and primitives are allowed`);
    }
    const record = obj as Record<string, unknown>;
    const parts: string[] = [];
    for (const k of Object.keys(record).sort()) {
      if (record[k] === undefined) continue;
      parts.push(`${JSON.stringify(k)}:${write(record[k], `${path}.${k}`, ancestors)}`);
    }
    return `{${parts.join(',')}}`;
  } finally {
    ancestors.delete(obj);
  }
}

/** Full hex SHA-256 of bytes or a string (UTF-8). */
export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Length of the keys made by contentHash: 64 bits, ample for the few thousand artifacts a study makes. */
export const CONTENT_HASH_LENGTH = 16;

/** Short content address of a JSON value: the first 16 hex chars of sha256(stableStringify(value)). */
export function contentHash(value: unknown): string {
  return sha256Hex(stableStringify(value)).slice(0, CONTENT_HASH_LENGTH);
}
