import { mkdtempSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import * as zlib from 'zlib';
import {
  crc32,
  decodeImage,
  decodePng,
  decodePnm,
  encodePng,
  ImageDecodeError,
  RawImage,
  readImageFile,
  resizeBilinear,
  toChannels,
} from '../../src/data/imageFile';

// ---------------------------------------------------------------------------------------------
// Helpers: an independent, forward PNG writer (filters applied here, not by the module).

const SIG = [137, 80, 78, 71, 13, 10, 26, 10];
const ascii = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));

/** Deterministic pseudo-random bytes (LCG) so filtered data wraps around 0/255 often. */
function noise(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}

function u32(v: number): number[] {
  return [(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];
}

function chunk(type: string, data: Uint8Array | number[]): Uint8Array {
  const d = Uint8Array.from(data);
  const body = new Uint8Array(4 + d.length);
  body.set(ascii(type), 0);
  body.set(d, 4);
  return Uint8Array.from([...u32(d.length), ...body, ...u32(crc32(body))]);
}

function ihdr(width: number, height: number, bitDepth: number, colorType: number, interlace = 0): Uint8Array {
  return chunk('IHDR', [...u32(width), ...u32(height), bitDepth, colorType, 0, 0, interlace]);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function png(chunks: Uint8Array[]): Uint8Array {
  return concat([Uint8Array.from(SIG), ...chunks, chunk('IEND', [])]);
}

function paethPredictor(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** Apply PNG filter `types[y]` forward to each unfiltered row; returns the filter-byte-prefixed stream. */
function filterRows(lines: Uint8Array, rowBytes: number, bpp: number, types: number[]): Uint8Array {
  const height = lines.length / rowBytes;
  const out = new Uint8Array(height * (rowBytes + 1));
  for (let y = 0; y < height; y++) {
    const t = types[y % types.length];
    out[y * (rowBytes + 1)] = t;
    for (let i = 0; i < rowBytes; i++) {
      const x = lines[y * rowBytes + i];
      const a = i >= bpp ? lines[y * rowBytes + i - bpp] : 0;
      const b = y > 0 ? lines[(y - 1) * rowBytes + i] : 0;
      const c = i >= bpp && y > 0 ? lines[(y - 1) * rowBytes + i - bpp] : 0;
      const pred = [0, a, b, Math.floor((a + b) / 2), paethPredictor(a, b, c)][t];
      out[y * (rowBytes + 1) + 1 + i] = (x - pred + 256) % 256;
    }
  }
  return out;
}

/** A complete PNG from raw (unfiltered) scanline bytes. */
function buildPng(
  width: number,
  height: number,
  bitDepth: number,
  colorType: number,
  lines: Uint8Array,
  filters: number[] = [0],
  before: Uint8Array[] = [],
): Uint8Array {
  const samples = ({ 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 } as Record<number, number>)[colorType];
  const bits = samples * bitDepth;
  const rowBytes = Math.ceil((width * bits) / 8);
  expect(lines.length).toBe(rowBytes * height);
  const stream = filterRows(lines, rowBytes, Math.max(1, bits >> 3), filters);
  return png([ihdr(width, height, bitDepth, colorType), ...before, chunk('IDAT', zlib.deflateSync(stream))]);
}

function img(width: number, height: number, channels: 1 | 3, pixels: number[] | Uint8Array): RawImage {
  return { width, height, channels, pixels: Uint8Array.from(pixels) };
}

function expectDecodeError(fn: () => unknown, re: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(ImageDecodeError);
  expect((caught as Error).message).toMatch(re);
}

// ---------------------------------------------------------------------------------------------

describe('crc32', () => {
  it('matches the standard check values', () => {
    expect(crc32(ascii('123456789'))).toBe(0xcbf43926);
    expect(crc32(ascii('IEND'))).toBe(0xae426082);
    expect(crc32(new Uint8Array(0))).toBe(0);
  });

  it('agrees with zlib.crc32 where Node provides it, including ranges and continuation', () => {
    const data = noise(1000, 7);
    const z = (zlib as unknown as { crc32?: (d: Uint8Array, v?: number) => number }).crc32;
    if (z) expect(crc32(data)).toBe(z(data));
    expect(crc32(data, 0, 400, 0)).toBe(crc32(data.subarray(0, 400)));
    expect(crc32(data, 400, 1000, crc32(data, 0, 400))).toBe(crc32(data));
  });
});

describe('encodePng / decodePng round trip', () => {
  it('round-trips grayscale', () => {
    const g = img(5, 3, 1, noise(15, 1));
    const bytes = encodePng(g);
    expect(Array.from(bytes.subarray(0, 8))).toEqual(SIG);
    expect(bytes[8 + 8 + 9]).toBe(0); // IHDR colour type
    expect(decodePng(bytes)).toEqual(g);
    expect(decodeImage(bytes, 'g.png')).toEqual(g);
  });

  it('round-trips RGB, including a 1x1 image', () => {
    const rgb = img(4, 3, 3, noise(36, 2));
    const bytes = encodePng(rgb);
    expect(bytes[8 + 8 + 9]).toBe(2);
    expect(decodeImage(bytes)).toEqual(rgb);
    const one = img(1, 1, 3, [1, 2, 3]);
    expect(decodePng(encodePng(one))).toEqual(one);
  });

  it('produces output that Node zlib + an independent chunk walk accept', () => {
    const rgb = img(3, 2, 3, noise(18, 3));
    const bytes = encodePng(rgb);
    // IHDR(25) + IDAT + IEND(12) after the 8-byte signature; IEND is the canonical 12 bytes.
    expect(Array.from(bytes.subarray(bytes.length - 12))).toEqual(Array.from(chunk('IEND', [])));
    const idatLen = (bytes[33] << 24) | (bytes[34] << 16) | (bytes[35] << 8) | bytes[36];
    const raw = zlib.inflateSync(bytes.subarray(41, 41 + idatLen));
    expect(Array.from(raw)).toEqual([0, ...rgb.pixels.subarray(0, 9), 0, ...rgb.pixels.subarray(9)]);
  });

  it('rejects invalid images', () => {
    expect(() => encodePng(img(2, 2, 3, [1, 2, 3]))).toThrow(/length 2\*2\*3 = 12/);
    expect(() => encodePng({ width: 1, height: 1, channels: 2 as 1, pixels: new Uint8Array(2) })).toThrow(
      /channels must be 1 or 3/,
    );
  });
});

describe('PNG scanline filters', () => {
  const W = 7;
  const H = 5;
  const rgb = noise(W * H * 3, 11);
  const gray = noise(W * H, 12);

  it.each([
    [1, 'Sub'],
    [2, 'Up'],
    [3, 'Average'],
    [4, 'Paeth'],
  ])('filter %i (%s) decodes to the original pixels (RGB, bpp 3, and gray, bpp 1)', (f) => {
    expect(decodePng(buildPng(W, H, 8, 2, rgb, [f]))).toEqual(img(W, H, 3, rgb));
    expect(decodePng(buildPng(W, H, 8, 0, gray, [f]))).toEqual(img(W, H, 1, gray));
  });

  it('Paeth breaks ties in the order left, up, upper-left', () => {
    // At pixel (1,1): a = left = 110, b = up = 80, c = upper-left = 100 -> p = 90, pa = 20, pb = pc = 10: pick b.
    const lines = Uint8Array.from([100, 80, 110, 37]);
    const filtered = filterRows(lines, 2, 1, [4]);
    expect(filtered[5]).toBe(37 - 80 + 256); // filtered against b, not c
    expect(decodePng(png([ihdr(2, 2, 8, 0), chunk('IDAT', zlib.deflateSync(filtered))])).pixels).toEqual(lines);
  });

  it('decodes a different filter on every row', () => {
    const tall = noise(W * 10 * 3, 13);
    expect(decodePng(buildPng(W, 10, 8, 2, tall, [4, 0, 3, 1, 2, 4, 4, 3, 2, 1]))).toEqual(img(W, 10, 3, tall));
  });

  it('uses bpp = 8 for 16-bit RGBA (Paeth/Average/Sub), keeping the high byte and dropping alpha', () => {
    const lines = noise(W * H * 8, 14);
    const expected = new Uint8Array(W * H * 3);
    for (let i = 0; i < W * H; i++) for (let c = 0; c < 3; c++) expected[i * 3 + c] = lines[i * 8 + c * 2];
    expect(decodePng(buildPng(W, H, 16, 6, lines, [4, 3, 1, 2, 0]))).toEqual(img(W, H, 3, expected));
  });

  it('rejects an unknown filter type, naming the row', () => {
    const bytes = buildPng(2, 2, 8, 0, Uint8Array.from([1, 2, 3, 4]));
    const stream = Uint8Array.from([0, 1, 2, 5, 3, 4]);
    const bad = png([ihdr(2, 2, 8, 0), chunk('IDAT', zlib.deflateSync(stream))]);
    expect(decodePng(bytes).pixels).toEqual(Uint8Array.from([1, 2, 3, 4]));
    expectDecodeError(() => decodePng(bad, 'f.png'), /^f\.png: bad filter type 5 on row 1/);
  });
});

describe('PNG colour types and bit depths', () => {
  it('decodes 8-bit palette images (and splits IDAT across chunks)', () => {
    const plte = chunk('PLTE', [255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30]);
    const idx = Uint8Array.from([0, 1, 2, 3, 3, 2, 1, 0]);
    const stream = zlib.deflateSync(filterRows(idx, 4, 1, [1, 4]));
    const bytes = png([
      ihdr(4, 2, 8, 3),
      plte,
      chunk('IDAT', stream.subarray(0, 5)),
      chunk('IDAT', stream.subarray(5)),
    ]);
    // prettier-ignore
    expect(decodePng(bytes)).toEqual(img(4, 2, 3, [
      255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30,
      10, 20, 30, 0, 0, 255, 0, 255, 0, 255, 0, 0,
    ]));
  });

  it('decodes 4-bit and 1-bit palette images, with rows padded to a byte', () => {
    const plte = chunk('PLTE', [0, 0, 0, 9, 9, 9, 50, 60, 70]);
    // 3 pixels of 4 bits per row: 2 bytes per row; indices (2,1,0) and (0,2,2).
    const four = buildPng(3, 2, 4, 3, Uint8Array.from([0x21, 0x00, 0x02, 0x20]), [2], [plte]);
    // prettier-ignore
    expect(decodePng(four).pixels).toEqual(Uint8Array.from([50, 60, 70, 9, 9, 9, 0, 0, 0, 0, 0, 0, 50, 60, 70, 50, 60, 70]));
    const one = buildPng(3, 1, 1, 3, Uint8Array.from([0b10100000]), [0], [plte]);
    expect(decodePng(one).pixels).toEqual(Uint8Array.from([9, 9, 9, 0, 0, 0, 9, 9, 9]));
  });

  it('rejects palette indices outside PLTE and a palette image without PLTE', () => {
    const plte = chunk('PLTE', [1, 2, 3, 4, 5, 6]);
    expectDecodeError(
      () => decodePng(buildPng(2, 1, 8, 3, Uint8Array.from([1, 2]), [0], [plte]), 'p.png'),
      /p\.png: palette index 2 at pixel \(1, 0\) is outside the 2-entry palette/,
    );
    expectDecodeError(() => decodePng(buildPng(2, 1, 8, 3, Uint8Array.from([0, 0]))), /without PLTE/);
  });

  it('scales 1-, 2- and 4-bit grayscale to 0..255', () => {
    const g1 = buildPng(10, 1, 1, 0, Uint8Array.from([0b10110000, 0b01000000]), [1]);
    expect(Array.from(decodePng(g1).pixels)).toEqual([255, 0, 255, 255, 0, 0, 0, 0, 0, 255]);
    const g2 = buildPng(5, 1, 2, 0, Uint8Array.from([0b00011011, 0b11000000]));
    expect(Array.from(decodePng(g2).pixels)).toEqual([0, 85, 170, 255, 255]);
    const g4 = buildPng(3, 2, 4, 0, Uint8Array.from([0x0f, 0x70, 0xa5, 0x10]), [3]);
    expect(decodePng(g4)).toEqual(img(3, 2, 1, [0, 255, 119, 170, 85, 17]));
  });

  it('keeps the high byte of 16-bit grayscale and RGB', () => {
    const g16 = buildPng(2, 1, 16, 0, Uint8Array.from([0x12, 0x34, 0xff, 0x01]));
    expect(decodePng(g16)).toEqual(img(2, 1, 1, [0x12, 0xff]));
    const rgb16 = buildPng(1, 1, 16, 2, Uint8Array.from([1, 2, 3, 4, 5, 6]), [1]);
    expect(decodePng(rgb16)).toEqual(img(1, 1, 3, [1, 3, 5]));
  });

  it('drops alpha from RGBA and gray+alpha (no compositing)', () => {
    const rgba = [10, 20, 30, 0, 40, 50, 60, 255, 70, 80, 90, 128, 1, 2, 3, 4];
    expect(decodePng(buildPng(2, 2, 8, 6, Uint8Array.from(rgba), [4, 3]))).toEqual(
      img(2, 2, 3, [10, 20, 30, 40, 50, 60, 70, 80, 90, 1, 2, 3]),
    );
    const ga = [200, 0, 100, 255, 7, 9];
    expect(decodePng(buildPng(3, 1, 8, 4, Uint8Array.from(ga), [1]))).toEqual(img(3, 1, 1, [200, 100, 7]));
  });

  it('skips ancillary chunks but rejects unknown critical ones', () => {
    const lines = Uint8Array.from([5, 6]);
    const withText = buildPng(2, 1, 8, 0, lines, [0], [chunk('tEXt', ascii('Comment\0hi'))]);
    expect(decodePng(withText).pixels).toEqual(lines);
    expectDecodeError(
      () => decodePng(buildPng(2, 1, 8, 0, lines, [0], [chunk('ABCD', [1])]), 'c.png'),
      /c\.png: unknown critical chunk ABCD/,
    );
  });
});

describe('PNG errors', () => {
  const good = encodePng(img(3, 2, 3, noise(18, 21)));

  it('rejects data that is not a PNG or PNM', () => {
    expectDecodeError(() => decodeImage(ascii('GIF89a....'), 'x.gif'), /^x\.gif: not a PNG or PNM.*47 49 46 38/);
    expectDecodeError(() => decodeImage(new Uint8Array(0), 'e'), /^e: not a PNG or PNM .*empty/);
    expectDecodeError(() => decodePng(ascii('P5 1 1 255\n\0')), /^<bytes>: not a PNG: bad signature/);
  });

  it('detects CRC corruption and names the chunk', () => {
    const bad = good.slice();
    bad[8 + 8 + 3] ^= 1; // a byte of the IHDR width
    expectDecodeError(() => decodePng(bad, 'crc.png'), /^crc\.png: CRC mismatch in chunk IHDR at byte 8/);
    const bad2 = good.slice();
    bad2[8 + 25 + 8 + 2] ^= 0x40; // inside the IDAT data
    expectDecodeError(() => decodeImage(bad2, 'crc.png'), /CRC mismatch in chunk IDAT/);
  });

  it('detects truncation anywhere', () => {
    for (const cut of [good.length - 1, good.length - 12, 40, 20, 10]) {
      expectDecodeError(() => decodePng(good.subarray(0, cut), 't.png'), /^t\.png: (truncated chunk|missing IEND)/);
    }
    expectDecodeError(() => decodePng(good.subarray(0, good.length - 12), 't.png'), /missing IEND chunk/);
    expectDecodeError(() => decodePng(good.subarray(0, 20), 't.png'), /truncated chunk IHDR at byte 8/);
    expectDecodeError(() => decodePng(good.subarray(0, 8), 't.png'), /no IHDR chunk/);
  });

  it('rejects interlaced, bad bit depths and bad colour types', () => {
    const data = chunk('IDAT', zlib.deflateSync(new Uint8Array(4)));
    expectDecodeError(
      () => decodePng(png([ihdr(1, 1, 8, 2, 1), data]), 'i.png'),
      /^i\.png: Adam7 interlaced PNGs are not supported/,
    );
    expectDecodeError(() => decodePng(png([ihdr(1, 1, 4, 2), data])), /unsupported bit depth 4 for color type 2 \(RGB\)/);
    expectDecodeError(() => decodePng(png([ihdr(1, 1, 16, 3), data])), /unsupported bit depth 16 for color type 3/);
    expectDecodeError(() => decodePng(png([ihdr(1, 1, 8, 5), data])), /unsupported color type 5/);
    expectDecodeError(() => decodePng(png([ihdr(0, 1, 8, 0), data])), /invalid image size 0x1/);
  });

  it('reports zlib failures and wrong decompressed sizes', () => {
    const garbage = png([ihdr(2, 2, 8, 0), chunk('IDAT', [1, 2, 3, 4, 5, 6])]);
    expectDecodeError(() => decodePng(garbage, 'z.png'), /^z\.png: zlib failure while inflating IDAT data/);
    const short = png([ihdr(2, 2, 8, 0), chunk('IDAT', zlib.deflateSync(new Uint8Array(5)))]);
    expectDecodeError(() => decodePng(short), /wrong decompressed size: got 5 bytes, expected 6/);
    const long = png([ihdr(2, 2, 8, 0), chunk('IDAT', zlib.deflateSync(new Uint8Array(100)))]);
    expectDecodeError(() => decodePng(long), /wrong decompressed size: .*more than the expected 6/);
    const cutStream = zlib.deflateSync(noise(6, 1)).subarray(0, 4);
    expectDecodeError(() => decodePng(png([ihdr(2, 2, 8, 0), chunk('IDAT', cutStream)])), /zlib failure/);
    expectDecodeError(() => decodePng(png([ihdr(2, 2, 8, 0)])), /no IDAT chunk/);
  });
});

describe('decodePnm', () => {
  it('reads binary P5 with comments in the header', () => {
    const bytes = concat([ascii('P5\n# made by hand\n3 # width\n2\n# maxval next\n255\n'), Uint8Array.from([0, 1, 2, 253, 254, 255])]);
    expect(decodePnm(bytes)).toEqual(img(3, 2, 1, [0, 1, 2, 253, 254, 255]));
    expect(decodeImage(bytes, 'a.pgm')).toEqual(img(3, 2, 1, [0, 1, 2, 253, 254, 255]));
  });

  it('reads binary P6, where the raster may start with a whitespace-valued byte', () => {
    const px = [10, 32, 13, 9, 35, 255]; // includes ' ', '\r', '\t' and '#' as sample bytes
    const bytes = concat([ascii('P6 2 1 255\n'), Uint8Array.from(px), ascii('trailing')]);
    expect(decodePnm(bytes, 'b.ppm')).toEqual(img(2, 1, 3, px));
  });

  it('reads ASCII P2 and P3 with comments', () => {
    const p2 = ascii('P2\n# comment\n2 2\n255\n0 17 # inline\n  128\n255\n');
    expect(decodePnm(p2)).toEqual(img(2, 2, 1, [0, 17, 128, 255]));
    const p3 = ascii('P3 1 2 255 1 2 3\n# mid-raster\n4 5 6');
    expect(decodeImage(p3)).toEqual(img(1, 2, 3, [1, 2, 3, 4, 5, 6]));
  });

  it('scales maxval 15 to 0..255 as round(v * 255 / 15)', () => {
    const p2 = ascii('P2 4 1 15\n0 1 8 15\n');
    expect(decodePnm(p2).pixels).toEqual(Uint8Array.from([0, 17, 136, 255]));
    const p5 = concat([ascii('P5 2 1 15 '), Uint8Array.from([7, 15])]);
    expect(decodePnm(p5).pixels).toEqual(Uint8Array.from([119, 255]));
    const p6 = concat([ascii('P6 1 1 100\n'), Uint8Array.from([1, 50, 99])]);
    expect(decodePnm(p6).pixels).toEqual(Uint8Array.from([3, 128, 252])); // 2.55, 127.5, 252.45
  });

  it('reports truncated data and header problems, naming the file', () => {
    expectDecodeError(
      () => decodePnm(concat([ascii('P6 2 2 255\n'), new Uint8Array(11)]), 'c.ppm'),
      /^c\.ppm: truncated PNM data: need 12 bytes for 2x2x3, only 11 present/,
    );
    expectDecodeError(() => decodePnm(ascii('P2 2 2 255\n1 2 3\n'), 'd.pgm'), /^d\.pgm: truncated PNM data/);
    expectDecodeError(() => decodePnm(ascii('P2 3 3 255\n1 2 3 4 5 6 7 8 \n'), 'd.pgm'), /found only 8/);
    expectDecodeError(() => decodePnm(ascii('P5 2 2 255')), /truncated PNM data: no pixel data/);
    expectDecodeError(() => decodePnm(ascii('P5 2 2 # only width and height'), 'h.pgm'), /^h\.pgm: bad PNM header: missing maxval/);
    expectDecodeError(() => decodePnm(ascii('P5 2 x 255\n')), /height is not a non-negative integer \("x"\)/);
    expectDecodeError(() => decodePnm(ascii('P5 0 2 255\n')), /image size 0x2 must be positive/);
    expectDecodeError(() => decodePnm(ascii('P5 1 1 65535\n\0\0')), /unsupported PNM maxval 65535.*16-bit/);
    expectDecodeError(() => decodePnm(ascii('P5 1 1 0\n\0')), /unsupported PNM maxval 0/);
    expectDecodeError(() => decodePnm(ascii('P2 2 1 15\n3 16\n')), /sample 16 at index 1 exceeds maxval 15/);
    expectDecodeError(() => decodePnm(ascii('P2 1 1 255\n-1\n')), /bad PNM sample "-1"/);
    expectDecodeError(() => decodePnm(ascii('P4 1 1\n\0'), 'm.pbm'), /^m\.pbm: unsupported PNM type P4/);
    expectDecodeError(() => decodePnm(ascii('P55 1 1 255\n\0')), /magic P5 must be followed by whitespace/);
  });
});

describe('readImageFile', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'imagefile-test-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads PNG and PNM files by content, not extension, and names the path in errors', () => {
    const rgb = img(2, 2, 3, noise(12, 5));
    const a = join(dir, 'pattern.dat');
    writeFileSync(a, encodePng(rgb));
    expect(readImageFile(a)).toEqual(rgb);
    const b = join(dir, 'pattern.png');
    writeFileSync(b, ascii('P2 1 1 255 9'));
    expect(readImageFile(b)).toEqual(img(1, 1, 1, [9]));
    const c = join(dir, 'bad.png');
    writeFileSync(c, ascii('hello'));
    expectDecodeError(() => readImageFile(c), new RegExp(`^${c.replace(/[.\\]/g, '\\$&')}: not a PNG or PNM`));
    expectDecodeError(() => readImageFile(join(dir, 'missing.png')), /missing\.png: cannot read image file/);
  });
});

describe('resizeBilinear', () => {
  it('upsamples 2x2 -> 4x4 with half-pixel centres (hand-computed)', () => {
    // Source coords per axis: d=0..3 -> s = (d+0.5)/2 - 0.5 = -0.25 (clamped 0), 0.25, 0.75, 1.25 (clamped 1).
    // Weights of the second pixel: 0, 0.25, 0.75, 1. Source [[0, 100], [200, 40]]:
    //  row 0: 0, 25, 75, 100            row 3: 200, 160, 80, 40
    //  row 1 = .75*row0 + .25*row3: 50, 58.75, 76.25, 85   row 2 = .25*row0 + .75*row3: 150, 126.25, 78.75, 55
    const out = resizeBilinear(img(2, 2, 1, [0, 100, 200, 40]), 4, 4);
    // prettier-ignore
    expect(out).toEqual(img(4, 4, 1, [
      0, 25, 75, 100,
      50, 59, 76, 85,
      150, 126, 79, 55,
      200, 160, 80, 40,
    ]));
  });

  it('interpolates each RGB channel independently and handles non-square targets', () => {
    const src = img(2, 2, 3, [0, 255, 7, 100, 155, 7, 200, 55, 7, 40, 215, 7]);
    const out = resizeBilinear(src, 4, 4);
    const r = [0, 25, 75, 100, 50, 59, 76, 85, 150, 126, 79, 55, 200, 160, 80, 40];
    expect(Array.from(out.pixels.filter((_, i) => i % 3 === 0))).toEqual(r);
    expect(Array.from(out.pixels.filter((_, i) => i % 3 === 1))).toEqual(r.map((v) => 255 - v));
    expect(Array.from(out.pixels.filter((_, i) => i % 3 === 2))).toEqual(new Array(16).fill(7));
    // 1x2 -> 1x4 (height kept, width doubled): same weights along x only.
    expect(resizeBilinear(img(2, 1, 1, [0, 100]), 1, 4)).toEqual(img(4, 1, 1, [0, 25, 75, 100]));
    expect(resizeBilinear(img(2, 1, 1, [0, 100]), 3, 1)).toEqual(img(1, 3, 1, [50, 50, 50]));
  });

  it('downsamples by 2 as the 2x2 block mean (no antialias beyond that), 3 -> 1 picks the centre', () => {
    // prettier-ignore
    const src = img(4, 4, 1, [
      0, 10, 100, 101,
      20, 30, 102, 103,
      1, 1, 255, 255,
      2, 3, 255, 254,
    ]);
    expect(resizeBilinear(src, 2, 2)).toEqual(img(2, 2, 1, [15, 102, 2, 255]));
    expect(resizeBilinear(img(3, 3, 1, [9, 9, 9, 9, 42, 9, 9, 9, 9]), 1, 1)).toEqual(img(1, 1, 1, [42]));
  });

  it('is an exact copy when the size is unchanged', () => {
    const src = img(5, 3, 3, noise(45, 9));
    const out = resizeBilinear(src, 3, 5);
    expect(out).toEqual(src);
    expect(out.pixels).not.toBe(src.pixels);
  });

  it('rejects bad sizes and malformed images', () => {
    const src = img(2, 2, 1, [0, 0, 0, 0]);
    expect(() => resizeBilinear(src, 0, 2)).toThrow(/target size must be positive integers/);
    expect(() => resizeBilinear(src, 2, 1.5)).toThrow(/target size/);
    expect(() => resizeBilinear(img(2, 2, 1, [0]), 4, 4)).toThrow(/pixels must be a Uint8Array of length/);
  });
});

describe('toChannels', () => {
  it('converts RGB to gray with PIL ITU-R 601-2 luma', () => {
    // prettier-ignore
    const rgb = img(6, 1, 3, [
      255, 0, 0, 0, 255, 0, 0, 0, 255,
      255, 255, 255, 0, 0, 0, 100, 150, 200,
    ]);
    // PIL: convert('L') gives 76 / 150 / 29 for pure red / green / blue; (100,150,200) -> 140.75 -> 141.
    expect(toChannels(rgb, 1)).toEqual(img(6, 1, 1, [76, 150, 29, 255, 0, 141]));
  });

  it('stays within 0.5 (+ fixed-point slack) of R*0.299 + G*0.587 + B*0.114 for many colours', () => {
    const px = noise(3 * 500, 33);
    const gray = toChannels(img(500, 1, 3, px), 1).pixels;
    for (let i = 0; i < 500; i++) {
      const exact = (px[3 * i] * 299 + px[3 * i + 1] * 587 + px[3 * i + 2] * 114) / 1000;
      expect(Math.abs(gray[i] - exact)).toBeLessThanOrEqual(0.51);
    }
  });

  it('replicates gray into RGB and copies when channels already match', () => {
    expect(toChannels(img(2, 1, 1, [3, 250]), 3)).toEqual(img(2, 1, 3, [3, 3, 3, 250, 250, 250]));
    const g = img(2, 1, 1, [3, 250]);
    const same = toChannels(g, 1);
    expect(same).toEqual(g);
    expect(same.pixels).not.toBe(g.pixels);
    expect(() => toChannels(g, 2 as 1)).toThrow(/channels must be 1 or 3 \(got 2\)/);
  });
});
