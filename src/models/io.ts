import * as tf from '@tensorflow/tfjs';
import { promises as fs } from 'fs';
import * as path from 'path';
import { fsyncDir, isErrnoCode, tempPathFor, writeFileSynced } from '../io/durable';
import { sha256Hex, stableStringify } from '../io/hash';
import { readJson } from '../io/json';

/*
 * Model weights on disk: manifest.json (what the bytes are) + weights.bin (the raw little-endian
 * values, tensors back to back in manifest order). Both are plain data; loading never evaluates
 * anything, so a weights directory from elsewhere cannot run code.
 *
 * Everything the manifest claims is checked before a tensor is built, because a mismatch that slips
 * through (a truncated copy, weights from another architecture) would otherwise surface as a
 * silently wrong model, or as a shape error far from its cause.
 */

/** A model's parameters: variable name → tensor. */
export type NamedTensors = Record<string, tf.Tensor>;

export const MANIFEST_FILE = 'manifest.json';
export const WEIGHTS_FILE = 'weights.bin';
export const WEIGHTS_FORMAT = 'superficial-safety/weights';
export const WEIGHTS_FORMAT_VERSION = 1;

const DTYPES = ['float32', 'int32'] as const;
export type WeightDtype = (typeof DTYPES)[number];
const BYTES_PER_ELEMENT = 4; // both supported dtypes

export interface TensorEntry {
  name: string;
  dtype: WeightDtype;
  shape: number[];
  /** Byte position in weights.bin. */
  offset: number;
  byteLength: number;
}

export interface WeightsManifest {
  format: typeof WEIGHTS_FORMAT;
  formatVersion: number;
  /** Free-form JSON describing the model (architecture, config key, training summary...). */
  meta: Record<string, unknown>;
  /** Entries sorted by name; offsets are contiguous from 0. */
  tensors: TensorEntry[];
  /** Total size of weights.bin. */
  byteLength: number;
  /** Hex SHA-256 of weights.bin. */
  sha256: string;
}

export interface DecodedModel {
  tensors: NamedTensors;
  meta: Record<string, unknown>;
}

export interface ArchitectureExpectation {
  /** Exactly these tensors must be present, no more, no fewer. */
  expectNames?: string[];
  /** Each listed tensor must be present with this shape. */
  expectShapes?: Record<string, number[]>;
}

/** Serialise tensors (in name order, so equal models give equal bytes) plus a manifest describing them. */
export async function encodeModel(
  tensors: NamedTensors,
  meta: Record<string, unknown>,
): Promise<{ manifest: WeightsManifest; data: Uint8Array }> {
  const names = Object.keys(tensors).sort();
  for (const name of names) {
    const t = tensors[name];
    if (name === '') throw new Error('encodeModel: a tensor has an empty name');
    if (!(t instanceof tf.Tensor)) throw new Error(`encodeModel: "${name}" is not a tensor`);
    if (t.isDisposed) throw new Error(`encodeModel: tensor "${name}" has been disposed`);
    if (!(DTYPES as readonly string[]).includes(t.dtype)) {
      throw new Error(`encodeModel: tensor "${name}" has dtype ${t.dtype}; only ${DTYPES.join(' and ')} can be saved`);
    }
  }
  let canonicalMeta: Record<string, unknown>;
  try {
    canonicalMeta = JSON.parse(stableStringify(meta));
  } catch (err) {
    throw new Error(`encodeModel: meta is not plain JSON: ${(err as Error).message}`);
  }

  const encoded = await tf.io.encodeWeights(names.map((name) => ({ name, tensor: tensors[name] })));
  const data = new Uint8Array(encoded.data);
  let offset = 0;
  const entries: TensorEntry[] = encoded.specs.map((spec) => {
    const byteLength = elementCount(spec.shape) * BYTES_PER_ELEMENT;
    const entry: TensorEntry = { name: spec.name, dtype: spec.dtype as WeightDtype, shape: [...spec.shape], offset, byteLength };
    offset += byteLength;
    return entry;
  });
  if (offset !== data.byteLength) {
    throw new Error(`encodeModel: tf.io.encodeWeights produced ${data.byteLength} bytes, expected ${offset}`);
  }
  const manifest: WeightsManifest = {
    format: WEIGHTS_FORMAT,
    formatVersion: WEIGHTS_FORMAT_VERSION,
    meta: canonicalMeta,
    tensors: entries,
    byteLength: data.byteLength,
    sha256: sha256Hex(data),
  };
  return { manifest, data };
}

/**
 * Validate a manifest (typically fresh from JSON, hence `unknown`) against the weight bytes and build
 * the tensors. Throws, naming the file, tensor and mismatch, at the first inconsistency.
 */
export function decodeModel(manifest: unknown, data: Uint8Array): DecodedModel {
  const m = parseManifest(manifest);
  checkData(m, data);
  return { tensors: decodeTensors(m, data), meta: m.meta };
}

/** Write manifest.json + weights.bin into `dir` so that a crash never leaves a manifest describing bytes that are not there. */
export async function saveModel(dir: string, tensors: NamedTensors, meta: Record<string, unknown>): Promise<WeightsManifest> {
  const { manifest, data } = await encodeModel(tensors, meta);
  await fs.mkdir(dir, { recursive: true });
  const weightsPath = path.join(dir, WEIGHTS_FILE);
  const manifestPath = path.join(dir, MANIFEST_FILE);
  const weightsTmp = tempPathFor(weightsPath);
  const manifestTmp = tempPathFor(manifestPath);
  try {
    await writeFileSynced(weightsTmp, data);
    await writeFileSynced(manifestTmp, `${JSON.stringify(manifest, null, 2)}\n`);
    // Weights first: until the manifest lands, an old manifest (if any) fails its digest check rather
    // than a new manifest pointing at a missing or half-written weights file.
    await fs.rename(weightsTmp, weightsPath);
    await fs.rename(manifestTmp, manifestPath);
  } finally {
    await fs.rm(weightsTmp, { force: true });
    await fs.rm(manifestTmp, { force: true });
  }
  await fsyncDir(dir);
  return manifest;
}

/** Read a model saved by saveModel, optionally checking it has the architecture the caller is about to use. */
export async function loadModel(dir: string, expect: ArchitectureExpectation = {}): Promise<DecodedModel> {
  const manifestPath = path.join(dir, MANIFEST_FILE);
  const weightsPath = path.join(dir, WEIGHTS_FILE);
  const manifest = parseManifest(await readJson(manifestPath), manifestPath);
  checkArchitecture(manifest, expect, manifestPath);
  let data: Uint8Array;
  try {
    data = await fs.readFile(weightsPath);
  } catch (err) {
    if (isErrnoCode(err, 'ENOENT')) throw new Error(`${weightsPath}: file not found (${MANIFEST_FILE} refers to it)`);
    throw err;
  }
  checkData(manifest, data, weightsPath);
  return { tensors: decodeTensors(manifest, data), meta: manifest.meta };
}

function decodeTensors(m: WeightsManifest, data: Uint8Array): NamedTensors {
  // Copy into a fresh, exactly-sized buffer: a Node Buffer may be a view into a larger shared pool.
  // (Buffer#slice would return such a view, so copy through the Uint8Array constructor instead.)
  const buffer = new Uint8Array(data.subarray(0, m.byteLength)).buffer;
  return tf.io.decodeWeights(buffer, m.tensors.map(({ name, dtype, shape }) => ({ name, dtype, shape })));
}

/** Structural checks on the manifest alone: types, names, sizes, contiguous offsets. */
export function parseManifest(raw: unknown, file: string = MANIFEST_FILE): WeightsManifest {
  const fail = (msg: string): never => {
    throw new Error(`${file}: ${msg}`);
  };
  if (!isRecord(raw)) return fail('must be a JSON object');
  if (raw.format !== WEIGHTS_FORMAT) fail(`format is ${JSON.stringify(raw.format)}, expected "${WEIGHTS_FORMAT}"`);
  if (raw.formatVersion !== WEIGHTS_FORMAT_VERSION) {
    fail(`formatVersion ${JSON.stringify(raw.formatVersion)} is not supported (this version reads ${WEIGHTS_FORMAT_VERSION})`);
  }
  if (!isRecord(raw.meta)) fail('meta must be a JSON object');
  if (!Array.isArray(raw.tensors)) return fail('tensors must be an array');
  if (!isByteCount(raw.byteLength)) fail(`byteLength must be a non-negative integer (got ${JSON.stringify(raw.byteLength)})`);
  if (typeof raw.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(raw.sha256)) fail('sha256 must be 64 lowercase hex digits');

  const seen = new Set<string>();
  let expectedOffset = 0;
  const tensors = raw.tensors.map((e: unknown, i: number): TensorEntry => {
    if (!isRecord(e)) return fail(`tensors[${i}] must be an object`);
    const { name, dtype, shape, offset, byteLength } = e;
    if (typeof name !== 'string' || name === '') return fail(`tensors[${i}] needs a non-empty string name`);
    const t = `tensor "${name}"`;
    if (seen.has(name)) fail(`${t} appears more than once`);
    seen.add(name);
    if (!(DTYPES as readonly unknown[]).includes(dtype)) fail(`${t} has dtype ${JSON.stringify(dtype)}; only ${DTYPES.join(' and ')} are supported`);
    if (!Array.isArray(shape) || !shape.every(isByteCount)) {
      return fail(`${t} has shape ${JSON.stringify(shape)}; expected an array of non-negative integers`);
    }
    if (!isByteCount(offset)) return fail(`${t} has offset ${JSON.stringify(offset)}; expected a non-negative integer`);
    if (!isByteCount(byteLength)) return fail(`${t} has byteLength ${JSON.stringify(byteLength)}; expected a non-negative integer`);
    const count = elementCount(shape);
    if (!Number.isSafeInteger(count * BYTES_PER_ELEMENT) || count * BYTES_PER_ELEMENT !== byteLength) {
      fail(`${t} has shape [${shape.join(',')}] (${count} elements × ${BYTES_PER_ELEMENT} bytes = ${count * BYTES_PER_ELEMENT} bytes) but byteLength ${byteLength}`);
    }
    if (offset !== expectedOffset) {
      fail(`${t} starts at offset ${offset} but the previous tensor ends at ${expectedOffset} (tensors must be stored back to back)`);
    }
    expectedOffset += byteLength;
    return { name, dtype: dtype as WeightDtype, shape: [...shape], offset, byteLength };
  });
  if (raw.byteLength !== expectedOffset) fail(`byteLength is ${raw.byteLength} but the tensors add up to ${expectedOffset} bytes`);

  return {
    format: WEIGHTS_FORMAT,
    formatVersion: WEIGHTS_FORMAT_VERSION,
    meta: raw.meta as Record<string, unknown>,
    tensors,
    byteLength: expectedOffset,
    sha256: raw.sha256 as string,
  };
}

/** The bytes must be exactly as long as the manifest says and hash to its digest. */
function checkData(m: WeightsManifest, data: Uint8Array, file: string = WEIGHTS_FILE): void {
  if (data.byteLength < m.byteLength) {
    const cut = m.tensors.find((t) => t.offset + t.byteLength > data.byteLength)!;
    throw new Error(
      `${file}: tensor "${cut.name}" expects ${cut.byteLength} bytes at offset ${cut.offset} but the file has ${data.byteLength} bytes (truncated?)`,
    );
  }
  if (data.byteLength > m.byteLength) {
    throw new Error(
      `${file}: has ${data.byteLength} bytes but the manifest accounts for ${m.byteLength} (${data.byteLength - m.byteLength} trailing bytes: wrong manifest for this file?)`,
    );
  }
  const digest = sha256Hex(data);
  if (digest !== m.sha256) {
    throw new Error(
      `${file}: sha256 is ${digest.slice(0, 12)}... but the manifest records ${m.sha256.slice(0, 12)}... (bytes modified, or the manifest belongs to other weights)`,
    );
  }
}

/** Compare the stored tensors against the architecture about to receive them; lists every mismatch. */
function checkArchitecture(m: WeightsManifest, expect: ArchitectureExpectation, file: string): void {
  const problems: string[] = [];
  const byName = new Map(m.tensors.map((t) => [t.name, t]));
  if (expect.expectNames) {
    const wanted = new Set(expect.expectNames);
    const missing = expect.expectNames.filter((n) => !byName.has(n));
    const extra = m.tensors.map((t) => t.name).filter((n) => !wanted.has(n));
    if (missing.length) problems.push(`missing tensors the architecture needs: ${missing.map((n) => `"${n}"`).join(', ')}`);
    if (extra.length) problems.push(`has tensors the architecture does not: ${extra.map((n) => `"${n}"`).join(', ')}`);
  }
  for (const [name, shape] of Object.entries(expect.expectShapes ?? {})) {
    const entry = byName.get(name);
    if (!entry) {
      if (!expect.expectNames?.includes(name)) problems.push(`missing tensor "${name}"`);
    } else if (entry.shape.length !== shape.length || entry.shape.some((d, i) => d !== shape[i])) {
      problems.push(`tensor "${name}" has shape [${entry.shape.join(',')}] but the architecture expects [${shape.join(',')}]`);
    }
  }
  if (problems.length) throw new Error(`${file}: does not match the expected architecture: ${problems.join('; ')}`);
}

function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function isByteCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
