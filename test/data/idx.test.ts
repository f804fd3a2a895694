import * as fs from 'fs';
import * as path from 'path';
import { gzipSync } from 'zlib';
import { isGzip, parseIdxImages, parseIdxLabels, readIdxImages, readIdxLabels } from '../../src/data/idx';
import { idxImages, idxLabels, makeTmpDir, removeDir } from './fixtures';

describe('IDX parsing', () => {
  test('parses raw images and labels', () => {
    const img = parseIdxImages(idxImages(3, 4, 5), 'x');
    expect([img.n, img.height, img.width]).toEqual([3, 4, 5]);
    expect(img.pixels).toBeInstanceOf(Uint8Array);
    expect(img.pixels.length).toBe(60);
    expect(img.pixels[20 + 2]).toBe((1 * 7 + 2) % 256); // image 1, pixel 2
    const lab = parseIdxLabels(idxLabels([3, 1, 4, 1, 5]), 'y');
    expect(lab.n).toBe(5);
    expect(Array.from(lab.labels)).toEqual([3, 1, 4, 1, 5]);
  });

  test('detects gzip by content and gunzips', () => {
    const gz = gzipSync(idxImages(2, 3, 3));
    expect(isGzip(gz)).toBe(true);
    expect(isGzip(idxImages(2, 3, 3))).toBe(false);
    const img = parseIdxImages(gz, 'a.gz');
    expect(img.n).toBe(2);
    expect(Array.from(img.pixels)).toEqual(Array.from(idxImages(2, 3, 3).subarray(16)));
  });

  test('bad magic names the file and what it found', () => {
    expect(() => parseIdxImages(idxLabels([1, 2]), 'train-images-idx3-ubyte.gz')).toThrow(
      /^train-images-idx3-ubyte\.gz: bad IDX magic 0x00000801 \(that is a labels file\), expected 0x00000803/);
    const junk = Buffer.from('<html>not found</html>');
    expect(() => parseIdxLabels(junk, 'l.gz')).toThrow(/l\.gz: bad IDX magic 0x3c68746d, expected 0x00000801/);
  });

  test('truncated images report header size vs actual', () => {
    const full = idxImages(3, 28, 28);
    const cut = full.subarray(0, 16 + 1234);
    expect(() => parseIdxImages(cut, 'train-images-idx3-ubyte.gz')).toThrow(
      'train-images-idx3-ubyte.gz: truncated: header says 3 images of 28x28 = 2352 bytes, file has 1234 ' +
      'after the 16-byte header');
  });

  test('truncated labels and too-short headers', () => {
    expect(() => parseIdxLabels(idxLabels([1, 2, 3]).subarray(0, 10), 'l')).toThrow(
      'l: truncated: header says 3 labels = 3 bytes, file has 2 after the 8-byte header');
    expect(() => parseIdxImages(Buffer.from([0, 0, 8, 3, 0]), 'i')).toThrow(/i: too short for an IDX images file: 5 bytes/);
    expect(() => parseIdxLabels(Buffer.alloc(0), 'e')).toThrow(/e: too short/);
  });

  test('trailing bytes are an error too', () => {
    const extra = Buffer.concat([idxLabels([1, 2]), Buffer.from([9, 9, 9])]);
    expect(() => parseIdxLabels(extra, 'l.gz')).toThrow('l.gz: 3 trailing bytes: header says 2 labels = 2 bytes');
  });

  test('zero dimensions are rejected', () => {
    expect(() => parseIdxImages(idxImages(0, 28, 28), 'z')).toThrow('z: IDX header has dimension 0 equal to 0');
  });

  test('corrupt and truncated gzip give a clear message', () => {
    const gz = gzipSync(idxImages(5, 28, 28));
    const corrupt = Buffer.from(gz);
    corrupt.fill(0xff, 10, 40);
    expect(() => parseIdxImages(corrupt, 'c.gz')).toThrow(/^c\.gz: corrupt gzip data \(.+\); the file is probably/);
    expect(() => parseIdxImages(gz.subarray(0, gz.length / 2), 't.gz')).toThrow(/^t\.gz: corrupt gzip data/);
  });

  test('file readers name the file, and a missing file is a clear error', () => {
    const dir = makeTmpDir();
    try {
      fs.writeFileSync(path.join(dir, 'imgs.gz'), gzipSync(idxImages(2, 28, 28).subarray(0, 100)));
      expect(() => readIdxImages(path.join(dir, 'imgs.gz'))).toThrow(/^imgs\.gz: truncated/);
      fs.writeFileSync(path.join(dir, 'labs'), idxLabels([7]));
      expect(readIdxLabels(path.join(dir, 'labs')).labels[0]).toBe(7);
      expect(() => readIdxLabels(path.join(dir, 'nope'))).toThrow(/nope: cannot read \(no such file\)$/);
    } finally {
      removeDir(dir);
    }
  });
});
