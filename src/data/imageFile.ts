/**
 * Dependency-free image file reading for user-supplied trigger patterns (Blended attack) and a minimal
 * PNG writer for exporting trigger images.
 *
 * Formats read:
 *  - PNG: non-interlaced, every standard colour type and bit depth. Colour type 0 (gray) at 1/2/4/8/16
 *    bits, 2 (RGB) at 8/16, 3 (palette) at 1/2/4/8, 4 (gray+alpha) and 6 (RGBA) at 8/16. 16-bit
 *    samples keep their high byte. Sub-byte gray is scaled to 0..255 (1-bit: ×255, 2-bit: ×85,
 *    4-bit: ×17). Alpha is simply DROPPED (not composited over any background), and tRNS is ignored,
 *    so a transparent pixel yields its stored colour. Gray and gray+alpha give 1 channel; RGB, RGBA
 *    and palette give 3. Every chunk's CRC32 is checked; unknown ancillary chunks are skipped, and
 *    unknown critical chunks are rejected as the PNG spec requires. Adam7 interlacing is rejected.
 *  - PNM: P2/P5 (gray) and P3/P6 (RGB), maxval 1..255 ('#' comments allowed anywhere in the header).
 *    Samples are scaled to 0..255 as round(v·255/maxval) when maxval ≠ 255. Only the first image of
 *    a multi-image file is read; trailing bytes are ignored.
 *
 * All decoding errors are {@link ImageDecodeError}s whose message starts with the file name (or
 * "<bytes>" when none was given) followed by the problem.
 */
import { readFileSync } from 'fs';
import { deflateSync, inflateSync } from 'zlib';

export interface RawImage {
  width: number;
  height: number;
  channels: 1 | 3;
  /** HWC, row-major, length = height·width·channels. */
  pixels: Uint8Array;
}

export class ImageDecodeError extends Error {
  constructor(
    readonly file: string,
    readonly problem: string,
  ) {
    super(`${file}: ${problem}`);
    this.name = 'ImageDecodeError';
  }
}

/** Refuse images with more samples than this (a trigger pattern is never near it). */
const MAX_SAMPLES = 1 << 28;

const PNG_SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];

function label(name: string | undefined): string {
  return name ?? '<bytes>';
}

// ---------------------------------------------------------------------------------------------
// CRC32 (ISO-HDLC, as used by PNG and zlib)

const CRC_TABLE: Uint32Array = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC32 of bytes[start, end), optionally continuing from a previous CRC. Returns an unsigned 32-bit value. */
export function crc32(bytes: Uint8Array, start = 0, end = bytes.length, previous = 0): number {
  let c = (previous ^ 0xffffffff) >>> 0;
  for (let i = start; i < end; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// ---------------------------------------------------------------------------------------------
// Sniffing

function isPng(bytes: Uint8Array): boolean {
  if (bytes.length < PNG_SIGNATURE.length) return false;
  for (let i = 0; i < PNG_SIGNATURE.length; i++) if (bytes[i] !== PNG_SIGNATURE[i]) return false;
  return true;
}

function isPnm(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x50 /* P */ && bytes[1] >= 0x31 && bytes[1] <= 0x37;
}

function describeStart(bytes: Uint8Array): string {
  const head = Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ');
  return bytes.length === 0 ? 'the data is empty' : `first bytes: ${head}`;
}

/** Decode a PNG or PNM image, choosing the format by its magic bytes. */
export function decodeImage(bytes: Uint8Array, name?: string): RawImage {
  if (isPng(bytes)) return decodePng(bytes, name);
  if (isPnm(bytes)) return decodePnm(bytes, name);
  throw new ImageDecodeError(label(name), `not a PNG or PNM (P2/P3/P5/P6) image (${describeStart(bytes)})`);
}

/** Read and decode a PNG or PNM file. */
export function readImageFile(path: string): RawImage {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new ImageDecodeError(path, `cannot read image file: ${(e as Error).message}`);
  }
  return decodeImage(bytes, path);
}

// ---------------------------------------------------------------------------------------------
// PNG decoding

interface Ihdr {
  width: number;
  height: number;
  bitDepth: number;
  colorType: number;
  interlace: number;
}

const ALLOWED_DEPTHS: Record<number, number[]> = {
  0: [1, 2, 4, 8, 16],
  2: [8, 16],
  3: [1, 2, 4, 8],
  4: [8, 16],
  6: [8, 16],
};
const SAMPLES_PER_PIXEL: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const COLOR_TYPE_NAMES: Record<number, string> = {
  0: 'grayscale',
  2: 'RGB',
  3: 'palette',
  4: 'grayscale+alpha',
  6: 'RGBA',
};

function readU32(b: Uint8Array, off: number): number {
  return ((b[off] << 24) | (b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3]) >>> 0;
}

function chunkTypeName(b: Uint8Array, off: number): string {
  let s = '';
  for (let i = 0; i < 4; i++) {
    const c = b[off + i];
    s += c >= 0x21 && c <= 0x7e ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, '0')}`;
  }
  return s;
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  if (pa <= pb && pa <= pc) return a;
  if (pb <= pc) return b;
  return c;
}

/** Decode a PNG (see module docs for what is supported). */
export function decodePng(bytes: Uint8Array, name?: string): RawImage {
  const file = label(name);
  function fail(problem: string): never {
    throw new ImageDecodeError(file, problem);
  }
  if (!isPng(bytes)) fail(`not a PNG: bad signature (${describeStart(bytes)})`);

  let ihdr: Ihdr | undefined;
  let palette: Uint8Array | undefined;
  const idat: Uint8Array[] = [];
  let idatBytes = 0;
  let sawIend = false;
  let off = PNG_SIGNATURE.length;
  let index = 0;

  while (off < bytes.length) {
    if (bytes.length - off < 8) {
      fail(`truncated chunk header at byte ${off} (only ${bytes.length - off} bytes left, need 8)`);
    }
    const length = readU32(bytes, off);
    const type = chunkTypeName(bytes, off + 4);
    if (length > 0x7fffffff) fail(`chunk ${type} at byte ${off} has invalid length ${length}`);
    const dataStart = off + 8;
    const dataEnd = dataStart + length;
    if (dataEnd + 4 > bytes.length) {
      fail(
        `truncated chunk ${type} at byte ${off}: declares ${length} data bytes + 4 CRC bytes, ` +
          `but only ${Math.max(0, bytes.length - dataStart)} bytes remain`,
      );
    }
    const stored = readU32(bytes, dataEnd);
    const computed = crc32(bytes, off + 4, dataEnd);
    if (stored !== computed) {
      fail(
        `CRC mismatch in chunk ${type} at byte ${off} ` +
          `(stored 0x${stored.toString(16).padStart(8, '0')}, computed 0x${computed.toString(16).padStart(8, '0')}); file is corrupt`,
      );
    }
    const data = bytes.subarray(dataStart, dataEnd);

    if (index === 0 && type !== 'IHDR') fail(`first chunk must be IHDR, found ${type}`);
    switch (type) {
      case 'IHDR': {
        if (index !== 0) fail('duplicate IHDR chunk');
        if (length !== 13) fail(`IHDR chunk must be 13 bytes long, got ${length}`);
        const h: Ihdr = {
          width: readU32(data, 0),
          height: readU32(data, 4),
          bitDepth: data[8],
          colorType: data[9],
          interlace: data[12],
        };
        if (h.width === 0 || h.height === 0 || h.width > 0x7fffffff || h.height > 0x7fffffff) {
          fail(`invalid image size ${h.width}x${h.height} in IHDR`);
        }
        const allowed = ALLOWED_DEPTHS[h.colorType];
        if (!allowed) fail(`unsupported color type ${h.colorType} (expected 0, 2, 3, 4 or 6)`);
        if (!allowed.includes(h.bitDepth)) {
          fail(
            `unsupported bit depth ${h.bitDepth} for color type ${h.colorType} (${COLOR_TYPE_NAMES[h.colorType]}); ` +
              `allowed: ${allowed.join(', ')}`,
          );
        }
        if (data[10] !== 0) fail(`unsupported compression method ${data[10]} (only 0 = deflate)`);
        if (data[11] !== 0) fail(`unsupported filter method ${data[11]} (only 0 = adaptive)`);
        if (h.interlace === 1) fail('Adam7 interlaced PNGs are not supported; re-save the image without interlacing');
        if (h.interlace !== 0) fail(`invalid interlace method ${h.interlace}`);
        const outChannels = h.colorType === 0 || h.colorType === 4 ? 1 : 3;
        if (h.width * h.height * outChannels > MAX_SAMPLES) {
          fail(`image ${h.width}x${h.height} is too large (limit ${MAX_SAMPLES} samples)`);
        }
        ihdr = h;
        break;
      }
      case 'PLTE': {
        if (palette) fail('duplicate PLTE chunk');
        if (idat.length > 0) fail('PLTE chunk after IDAT');
        if (length === 0 || length % 3 !== 0 || length > 256 * 3) {
          fail(`PLTE chunk length ${length} is not a multiple of 3 between 3 and 768`);
        }
        palette = data;
        break;
      }
      case 'IDAT':
        idat.push(data);
        idatBytes += length;
        break;
      case 'IEND':
        sawIend = true;
        break;
      default:
        // Bit 5 of the first byte clear = critical chunk, which a decoder must understand.
        if ((bytes[off + 4] & 0x20) === 0) fail(`unknown critical chunk ${type}`);
    }
    index++;
    off = dataEnd + 4;
    if (sawIend) break;
  }

  if (!ihdr) fail('no IHDR chunk (empty or truncated PNG)');
  const h = ihdr as Ihdr;
  if (!sawIend) fail('missing IEND chunk (file truncated?)');
  if (idat.length === 0) fail('no IDAT chunk (no image data)');
  if (h.colorType === 3 && !palette) fail('palette image (color type 3) without PLTE chunk');

  const compressed = new Uint8Array(idatBytes);
  {
    let p = 0;
    for (const d of idat) {
      compressed.set(d, p);
      p += d.length;
    }
  }

  const samples = SAMPLES_PER_PIXEL[h.colorType];
  const bitsPerPixel = samples * h.bitDepth;
  const bpp = Math.max(1, bitsPerPixel >> 3);
  const rowBytes = Math.ceil((h.width * bitsPerPixel) / 8);
  const stride = rowBytes + 1;
  const expected = stride * h.height;

  let raw: Uint8Array;
  try {
    raw = inflateSync(compressed, { maxOutputLength: expected + 1 });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) {
      fail(`wrong decompressed size: image data inflates to more than the expected ${expected} bytes`);
    }
    fail(`zlib failure while inflating IDAT data: ${err.message}`);
  }
  if (raw.length !== expected) {
    fail(
      `wrong decompressed size: got ${raw.length} bytes, expected ${expected} ` +
        `(${h.height} rows × (1 filter byte + ${rowBytes} bytes))`,
    );
  }

  // Undo the scanline filters in place. `prev` is the previous reconstructed row (zeros for row 0).
  const zeroRow = new Uint8Array(rowBytes);
  const lines = new Uint8Array(rowBytes * h.height);
  for (let y = 0; y < h.height; y++) {
    const ft = raw[y * stride];
    const src = raw.subarray(y * stride + 1, (y + 1) * stride);
    const cur = lines.subarray(y * rowBytes, (y + 1) * rowBytes);
    const prev = y === 0 ? zeroRow : lines.subarray((y - 1) * rowBytes, y * rowBytes);
    switch (ft) {
      case 0:
        cur.set(src);
        break;
      case 1:
        for (let i = 0; i < rowBytes; i++) cur[i] = (src[i] + (i >= bpp ? cur[i - bpp] : 0)) & 0xff;
        break;
      case 2:
        for (let i = 0; i < rowBytes; i++) cur[i] = (src[i] + prev[i]) & 0xff;
        break;
      case 3:
        for (let i = 0; i < rowBytes; i++) {
          const a = i >= bpp ? cur[i - bpp] : 0;
          cur[i] = (src[i] + ((a + prev[i]) >> 1)) & 0xff;
        }
        break;
      case 4:
        for (let i = 0; i < rowBytes; i++) {
          const a = i >= bpp ? cur[i - bpp] : 0;
          const c = i >= bpp ? prev[i - bpp] : 0;
          cur[i] = (src[i] + paeth(a, prev[i], c)) & 0xff;
        }
        break;
      default:
        fail(`bad filter type ${ft} on row ${y} (expected 0..4)`);
    }
  }

  const outChannels: 1 | 3 = h.colorType === 0 || h.colorType === 4 ? 1 : 3;
  const out = new Uint8Array(h.width * h.height * outChannels);
  const bd = h.bitDepth;

  if (bd < 8) {
    // Gray (0) or palette (3), packed most-significant bits first; each row starts on a byte boundary.
    const mask = (1 << bd) - 1;
    const scale = 255 / mask; // 255, 85 or 17: exact integers
    const pal = palette;
    const nPal = pal ? pal.length / 3 : 0;
    for (let y = 0; y < h.height; y++) {
      const row = y * rowBytes;
      for (let x = 0; x < h.width; x++) {
        const bit = x * bd;
        const v = (lines[row + (bit >> 3)] >> (8 - bd - (bit & 7))) & mask;
        const o = (y * h.width + x) * outChannels;
        if (h.colorType === 0) {
          out[o] = v * scale;
        } else {
          if (v >= nPal) fail(`palette index ${v} at pixel (${x}, ${y}) is outside the ${nPal}-entry palette`);
          out[o] = pal![v * 3];
          out[o + 1] = pal![v * 3 + 1];
          out[o + 2] = pal![v * 3 + 2];
        }
      }
    }
    return { width: h.width, height: h.height, channels: outChannels, pixels: out };
  }

  const bytesPerSample = bd >> 3; // 1 or 2; for 16-bit the high (first, big-endian) byte is kept
  const n = h.width * h.height;
  if (h.colorType === 3) {
    const pal = palette!;
    const nPal = pal.length / 3;
    for (let i = 0; i < n; i++) {
      const v = lines[i];
      if (v >= nPal) fail(`palette index ${v} at pixel (${i % h.width}, ${Math.floor(i / h.width)}) is outside the ${nPal}-entry palette`);
      out[i * 3] = pal[v * 3];
      out[i * 3 + 1] = pal[v * 3 + 1];
      out[i * 3 + 2] = pal[v * 3 + 2];
    }
  } else {
    // Colour types 0, 2, 4, 6: copy the first outChannels samples of each pixel, dropping alpha.
    const pixelBytes = samples * bytesPerSample;
    for (let i = 0; i < n; i++) {
      const s = i * pixelBytes;
      for (let c = 0; c < outChannels; c++) out[i * outChannels + c] = lines[s + c * bytesPerSample];
    }
  }
  return { width: h.width, height: h.height, channels: outChannels, pixels: out };
}

// ---------------------------------------------------------------------------------------------
// PNM decoding

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0x0b || c === 0x0c;
}

/** Decode a binary or ASCII PGM/PPM (P2, P3, P5, P6) with maxval ≤ 255. */
export function decodePnm(bytes: Uint8Array, name?: string): RawImage {
  const file = label(name);
  function fail(problem: string): never {
    throw new ImageDecodeError(file, problem);
  }
  if (!isPnm(bytes)) fail(`not a PNM: expected magic P2, P3, P5 or P6 (${describeStart(bytes)})`);
  const kind = bytes[1] - 0x30;
  if (kind !== 2 && kind !== 3 && kind !== 5 && kind !== 6) {
    fail(`unsupported PNM type P${kind} (only P2, P3, P5 and P6 are supported)`);
  }
  if (bytes.length > 2 && !isSpace(bytes[2]) && bytes[2] !== 0x23) {
    fail(`bad PNM header: magic P${kind} must be followed by whitespace`);
  }

  let pos = 2;
  /** Next whitespace-separated token, skipping '#' comments; undefined at end of data. */
  const nextToken = (): { start: number; end: number } | undefined => {
    for (;;) {
      while (pos < bytes.length && isSpace(bytes[pos])) pos++;
      if (pos < bytes.length && bytes[pos] === 0x23) {
        while (pos < bytes.length && bytes[pos] !== 0x0a && bytes[pos] !== 0x0d) pos++;
        continue;
      }
      break;
    }
    if (pos >= bytes.length) return undefined;
    const start = pos;
    while (pos < bytes.length && !isSpace(bytes[pos]) && bytes[pos] !== 0x23) pos++;
    return { start, end: pos };
  };
  const tokenText = (t: { start: number; end: number }): string =>
    String.fromCharCode(...bytes.subarray(t.start, Math.min(t.end, t.start + 20)));
  const headerInt = (what: string): number => {
    const t = nextToken();
    if (!t) return fail(`bad PNM header: missing ${what} (file truncated?)`);
    const text = tokenText(t);
    if (!/^\d+$/.test(text) || t.end - t.start > 10) fail(`bad PNM header: ${what} is not a non-negative integer ("${text}")`);
    return Number(text);
  };

  const width = headerInt('width');
  const height = headerInt('height');
  const maxval = headerInt('maxval');
  if (width === 0 || height === 0) fail(`bad PNM header: image size ${width}x${height} must be positive`);
  if (maxval === 0 || maxval > 255) {
    fail(`unsupported PNM maxval ${maxval} (only 1..255 is supported${maxval > 255 ? '; 16-bit PNM is not' : ''})`);
  }
  const channels: 1 | 3 = kind === 2 || kind === 5 ? 1 : 3;
  const count = width * height * channels;
  if (count > MAX_SAMPLES) fail(`image ${width}x${height} is too large (limit ${MAX_SAMPLES} samples)`);

  const out = new Uint8Array(count);
  const scale = (v: number, i: number): number => {
    if (v > maxval) fail(`sample ${v} at index ${i} exceeds maxval ${maxval}`);
    return maxval === 255 ? v : Math.round((v * 255) / maxval);
  };

  if (kind === 5 || kind === 6) {
    // Exactly one whitespace byte separates maxval from the raster.
    if (pos >= bytes.length || !isSpace(bytes[pos])) {
      fail(pos >= bytes.length ? 'truncated PNM data: no pixel data after the header' : 'bad PNM header: maxval must be followed by a single whitespace byte');
    }
    pos++;
    const available = bytes.length - pos;
    if (available < count) {
      fail(`truncated PNM data: need ${count} bytes for ${width}x${height}x${channels}, only ${available} present`);
    }
    for (let i = 0; i < count; i++) out[i] = scale(bytes[pos + i], i);
  } else {
    // Each ASCII sample takes at least one digit and one separator.
    if (bytes.length - pos < 2 * count - 1) {
      fail(`truncated PNM data: ${count} samples need at least ${2 * count - 1} bytes, only ${bytes.length - pos} remain`);
    }
    for (let i = 0; i < count; i++) {
      const t = nextToken();
      if (!t) fail(`truncated PNM data: expected ${count} samples, found only ${i}`);
      const text = tokenText(t);
      if (!/^\d+$/.test(text) || t.end - t.start > 10) fail(`bad PNM sample "${text}" at index ${i}`);
      out[i] = scale(Number(text), i);
    }
  }
  return { width, height, channels, pixels: out };
}

// ---------------------------------------------------------------------------------------------
// Pixel operations

function checkImage(img: RawImage, where: string): void {
  const { width, height, channels, pixels } = img;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new Error(`${where}: image size must be positive integers (got ${width}x${height})`);
  }
  if (channels !== 1 && channels !== 3) throw new Error(`${where}: channels must be 1 or 3 (got ${channels})`);
  if (!(pixels instanceof Uint8Array) || pixels.length !== width * height * channels) {
    throw new Error(
      `${where}: pixels must be a Uint8Array of length ${width}*${height}*${channels} = ${width * height * channels} ` +
        `(got ${pixels instanceof Uint8Array ? pixels.length : typeof pixels})`,
    );
  }
}

/**
 * Bilinear resize with half-pixel centres (align_corners = false) and no antialiasing, as
 * torch.nn.functional.interpolate(mode='bilinear', align_corners=False): the output pixel d maps to
 * source coordinate s = (d + 0.5)·in/out − 0.5, clamped to [0, in − 1]. For upsampling this equals
 * PIL's BILINEAR; for downsampling PIL additionally antialiases and this does not. Results are
 * rounded to nearest (halves up). The same size returns an exact copy.
 */
export function resizeBilinear(img: RawImage, height: number, width: number): RawImage {
  checkImage(img, 'resizeBilinear');
  if (!Number.isInteger(height) || !Number.isInteger(width) || height <= 0 || width <= 0) {
    throw new Error(`resizeBilinear: target size must be positive integers (got ${height}x${width})`);
  }
  const { channels: C, pixels: src } = img;
  if (height === img.height && width === img.width) {
    return { width, height, channels: C, pixels: src.slice() };
  }
  const axis = (inSize: number, outSize: number) => {
    const lo = new Int32Array(outSize);
    const hi = new Int32Array(outSize);
    const frac = new Float64Array(outSize);
    const scale = inSize / outSize;
    for (let d = 0; d < outSize; d++) {
      let s = (d + 0.5) * scale - 0.5;
      if (s < 0) s = 0;
      if (s > inSize - 1) s = inSize - 1;
      const i0 = Math.floor(s);
      lo[d] = i0;
      hi[d] = Math.min(i0 + 1, inSize - 1);
      frac[d] = s - i0;
    }
    return { lo, hi, frac };
  };
  const ys = axis(img.height, height);
  const xs = axis(img.width, width);
  const inRow = img.width * C;
  const out = new Uint8Array(width * height * C);
  for (let y = 0; y < height; y++) {
    const r0 = ys.lo[y] * inRow;
    const r1 = ys.hi[y] * inRow;
    const fy = ys.frac[y];
    for (let x = 0; x < width; x++) {
      const c0 = xs.lo[x] * C;
      const c1 = xs.hi[x] * C;
      const fx = xs.frac[x];
      const o = (y * width + x) * C;
      for (let c = 0; c < C; c++) {
        const top = src[r0 + c0 + c] * (1 - fx) + src[r0 + c1 + c] * fx;
        const bot = src[r1 + c0 + c] * (1 - fx) + src[r1 + c1 + c] * fx;
        const v = Math.round(top * (1 - fy) + bot * fy);
        out[o + c] = v < 0 ? 0 : v > 255 ? 255 : v;
      }
    }
  }
  return { width, height, channels: C, pixels: out };
}

/**
 * Convert between gray and RGB. RGB → gray uses ITU-R 601-2 luma exactly as PIL's convert('L'):
 * L = (R·19595 + G·38470 + B·7471 + 32768) >> 16, i.e. R·299/1000 + G·587/1000 + B·114/1000 in 16-bit
 * fixed point, rounded to nearest. Gray → RGB replicates the value. Same channels returns a copy.
 */
export function toChannels(img: RawImage, channels: 1 | 3): RawImage {
  checkImage(img, 'toChannels');
  if (channels !== 1 && channels !== 3) throw new Error(`toChannels: channels must be 1 or 3 (got ${channels})`);
  const { width, height, pixels } = img;
  const n = width * height;
  if (img.channels === channels) return { width, height, channels, pixels: pixels.slice() };
  if (channels === 1) {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      out[i] = (pixels[3 * i] * 19595 + pixels[3 * i + 1] * 38470 + pixels[3 * i + 2] * 7471 + 0x8000) >>> 16;
    }
    return { width, height, channels: 1, pixels: out };
  }
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = pixels[i];
  return { width, height, channels: 3, pixels: out };
}

// ---------------------------------------------------------------------------------------------
// PNG encoding

/** Minimal PNG encoder: 8-bit gray (channels 1) or RGB (channels 3), filter 0 on every row, zlib deflate. */
export function encodePng(img: RawImage): Uint8Array {
  checkImage(img, 'encodePng');
  const { width, height, channels, pixels } = img;
  const rowBytes = width * channels;
  const raw = new Uint8Array((rowBytes + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (rowBytes + 1)] = 0;
    raw.set(pixels.subarray(y * rowBytes, (y + 1) * rowBytes), y * (rowBytes + 1) + 1);
  }
  const idat = deflateSync(raw);
  const ihdr = new Uint8Array(13);
  const dv = new DataView(ihdr.buffer);
  dv.setUint32(0, width);
  dv.setUint32(4, height);
  ihdr[8] = 8;
  ihdr[9] = channels === 1 ? 0 : 2;
  // compression 0, filter 0, interlace 0
  const chunks: Array<[string, Uint8Array]> = [
    ['IHDR', ihdr],
    ['IDAT', idat],
    ['IEND', new Uint8Array(0)],
  ];
  const total = PNG_SIGNATURE.length + chunks.reduce((s, [, d]) => s + 12 + d.length, 0);
  const out = new Uint8Array(total);
  const ov = new DataView(out.buffer);
  out.set(PNG_SIGNATURE, 0);
  let off = PNG_SIGNATURE.length;
  for (const [type, data] of chunks) {
    ov.setUint32(off, data.length);
    for (let i = 0; i < 4; i++) out[off + 4 + i] = type.charCodeAt(i);
    out.set(data, off + 8);
    ov.setUint32(off + 8 + data.length, crc32(out, off + 4, off + 8 + data.length));
    off += 12 + data.length;
  }
  return out;
}
