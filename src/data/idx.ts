/**
 * IDX files (the MNIST / Fashion-MNIST container): a 4-byte magic, one big-endian uint32 per dimension,
 * then the unsigned-byte payload. Files may be gzip'd; we detect that from the content, not the name,
 * because people often gunzip the files but keep the names (or the reverse).
 */
import * as fs from 'fs';
import * as path from 'path';
import { gunzipSync } from 'zlib';

/** Magic numbers: 0x08 = unsigned byte data, last byte = number of dimensions. */
export const IDX_IMAGES_MAGIC = 0x00000803;
export const IDX_LABELS_MAGIC = 0x00000801;

export interface IdxImages {
  n: number;
  height: number;
  width: number;
  /** n * height * width bytes, row-major. */
  pixels: Uint8Array;
}

export interface IdxLabels {
  n: number;
  labels: Uint8Array;
}

/** True when the bytes start with the gzip magic 1f 8b. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Gunzip when the content is gzip'd, otherwise return the bytes unchanged. `source` names the file in errors. */
export function maybeGunzip(bytes: Uint8Array, source: string): Uint8Array {
  if (!isGzip(bytes)) return bytes;
  try {
    return gunzipSync(bytes);
  } catch (e) {
    throw new Error(`${source}: corrupt gzip data (${errorReason(e)}); the file is probably a partial or damaged ` +
      `download — delete it and provision the data again`);
  }
}

export function parseIdxImages(bytes: Uint8Array, source: string): IdxImages {
  const { dims, payload } = parseIdx(maybeGunzip(bytes, source), source, IDX_IMAGES_MAGIC, 'images');
  const [n, height, width] = dims;
  return { n, height, width, pixels: payload };
}

export function parseIdxLabels(bytes: Uint8Array, source: string): IdxLabels {
  const { dims, payload } = parseIdx(maybeGunzip(bytes, source), source, IDX_LABELS_MAGIC, 'labels');
  return { n: dims[0], labels: payload };
}

export function readIdxImages(file: string): IdxImages {
  return parseIdxImages(readFileOrThrow(file), path.basename(file));
}

export function readIdxLabels(file: string): IdxLabels {
  return parseIdxLabels(readFileOrThrow(file), path.basename(file));
}

function readFileOrThrow(file: string): Uint8Array {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw new Error(`${file}: cannot read (${errorReason(e)})`);
  }
}

function parseIdx(
  raw: Uint8Array, source: string, magic: number, kind: 'images' | 'labels',
): { dims: number[]; payload: Uint8Array } {
  const rank = magic & 0xff;
  const headerBytes = 4 + 4 * rank;
  // Check the magic before the header length: a wrong file is a more useful message than "too short".
  if (raw.length >= 4) {
    const found = new DataView(raw.buffer, raw.byteOffset, 4).getUint32(0, false);
    if (found !== magic) {
      const other = found === IDX_IMAGES_MAGIC ? ' (that is an images file)'
        : found === IDX_LABELS_MAGIC ? ' (that is a labels file)' : '';
      throw new Error(`${source}: bad IDX magic ${hex(found)}${other}, expected ${hex(magic)} for ${kind}`);
    }
  }
  if (raw.length < headerBytes) {
    throw new Error(`${source}: too short for an IDX ${kind} file: ${raw.length} bytes, ` +
      `the header alone is ${headerBytes}`);
  }
  const view = new DataView(raw.buffer, raw.byteOffset, headerBytes);
  const dims: number[] = [];
  for (let i = 0; i < rank; i++) {
    const d = view.getUint32(4 + 4 * i, false);
    if (d === 0) throw new Error(`${source}: IDX header has dimension ${i} equal to 0`);
    dims.push(d);
  }
  const expected = dims.reduce((a, b) => a * b, 1);
  const actual = raw.length - headerBytes;
  if (actual !== expected) {
    const what = kind === 'images'
      ? `${dims[0]} images of ${dims[1]}x${dims[2]} = ${expected} bytes`
      : `${dims[0]} labels = ${expected} bytes`;
    const problem = actual < expected ? 'truncated' : `${actual - expected} trailing bytes`;
    throw new Error(`${source}: ${problem}: header says ${what}, file has ${actual} after the ` +
      `${headerBytes}-byte header`);
  }
  // A plain Uint8Array view (not a Buffer) so callers get the type the Dataset interface promises.
  return { dims, payload: new Uint8Array(raw.buffer, raw.byteOffset + headerBytes, expected) };
}

/**
 * Node's own message for an errno error repeats the path we already print; prefer its code. (Checked by shape,
 * not instanceof: errors from Node internals fail instanceof Error inside jest's sandbox.)
 */
function errorReason(e: unknown): string {
  const err = e as { code?: unknown; message?: unknown } | null;
  if (err && typeof err.code === 'string' && /^E[A-Z]+$/.test(err.code)) {
    return err.code === 'ENOENT' ? 'no such file' : err.code;
  }
  return err && typeof err.message === 'string' ? err.message : String(e);
}

function hex(x: number): string {
  return '0x' + x.toString(16).padStart(8, '0');
}
