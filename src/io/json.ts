import { promises as fs } from 'fs';
import * as path from 'path';
import type { z } from 'zod';
import { writeFileAtomic, isErrnoCode } from './durable';
import { stableStringify } from './hash';

/**
 * Write `value` as pretty JSON, atomically. Keys are sorted (so reruns give byte-identical files) and
 * values JSON cannot hold (NaN, undefined in arrays, Dates...) are an error rather than being silently
 * turned into null or dropped, which would corrupt results without anyone noticing.
 */
export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  let canonical: string;
  try {
    canonical = stableStringify(value);
  } catch (err) {
    throw new Error(`writeJsonAtomic: cannot write ${file}: ${(err as Error).message}`);
  }
  await writeFileAtomic(file, `${JSON.stringify(JSON.parse(canonical), null, 2)}\n`);
}

/** Read and parse a JSON file; the error says which file and whether it is missing or malformed. */
export async function readJson(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if (isErrnoCode(err, 'ENOENT')) throw new Error(`${file}: file not found`);
    throw new Error(`${file}: cannot read (${(err as Error).message})`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${file}: not valid JSON (${(err as Error).message})`);
  }
}

/** Save a stage result (metrics, curves...) as `<dir>/<name>`. */
export async function saveJson(dir: string, name: string, value: unknown): Promise<string> {
  const file = path.join(dir, name);
  await writeJsonAtomic(file, value);
  return file;
}

/**
 * Load `<dir>/<name>`, optionally checking it against a zod schema so that a stale or hand-edited
 * file fails here with the field named, not later as an `undefined` deep inside an analysis.
 */
export async function loadJson<T = unknown>(dir: string, name: string, schema?: z.ZodType<T, z.ZodTypeDef, unknown>): Promise<T> {
  const file = path.join(dir, name);
  const value = await readJson(file);
  if (!schema) return value as T;
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`);
  throw new Error(`${file}: unexpected content: ${problems.join('; ')}`);
}
