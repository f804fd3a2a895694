/** Small generated data files for the data-layer tests, written into throwaway temp directories. */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { gzipSync } from 'zlib';

export function makeTmpDir(prefix = 'ss-data-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

function u32(x: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(x >>> 0, 0);
  return b;
}

/** An IDX images file; pixel (i, p) = (i * 7 + p) mod 256 so tests can check positions. */
export function idxImages(n: number, height = 28, width = 28): Buffer {
  const pixels = Buffer.alloc(n * height * width);
  for (let i = 0; i < n; i++) {
    for (let p = 0; p < height * width; p++) pixels[i * height * width + p] = (i * 7 + p) % 256;
  }
  return Buffer.concat([u32(0x803), u32(n), u32(height), u32(width), pixels]);
}

export function idxLabels(labels: readonly number[]): Buffer {
  return Buffer.concat([u32(0x801), u32(labels.length), Buffer.from(labels)]);
}

/** Labels 0..9 repeating, n of them. */
export function cyclicLabels(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i % 10);
}

export const FASHION_NAMES = {
  trainImages: 'train-images-idx3-ubyte.gz',
  trainLabels: 'train-labels-idx1-ubyte.gz',
  testImages: 't10k-images-idx3-ubyte.gz',
  testLabels: 't10k-labels-idx1-ubyte.gz',
} as const;

/** The four Fashion-MNIST files (uncompressed contents) for a tiny train/test set. */
export function fashionContents(nTrain = 12, nTest = 5): Record<string, Buffer> {
  return {
    [FASHION_NAMES.trainImages]: idxImages(nTrain),
    [FASHION_NAMES.trainLabels]: idxLabels(cyclicLabels(nTrain)),
    [FASHION_NAMES.testImages]: idxImages(nTest),
    [FASHION_NAMES.testLabels]: idxLabels(cyclicLabels(nTest)),
  };
}

/** Write a tiny Fashion-MNIST directory, gzip'd like the real thing; returns dir. */
export function writeFashionDir(dir: string, nTrain = 12, nTest = 5, only?: readonly string[]): string {
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, content] of Object.entries(fashionContents(nTrain, nTest))) {
    if (!only || only.includes(name)) fs.writeFileSync(path.join(dir, name), gzipSync(content));
  }
  return dir;
}

export const CIFAR_RECORD = 3073;

/** CIFAR-10 binary records; record r has label labels[r], R plane = r, G plane = 100 + p % 100, B = 200 + r. */
export function cifarBatch(labels: readonly number[]): Buffer {
  const b = Buffer.alloc(labels.length * CIFAR_RECORD);
  labels.forEach((y, r) => {
    const o = r * CIFAR_RECORD;
    b[o] = y;
    for (let p = 0; p < 1024; p++) {
      b[o + 1 + p] = r % 256;
      b[o + 1 + 1024 + p] = 100 + (p % 100);
      b[o + 1 + 2048 + p] = (200 + r) % 256;
    }
  });
  return b;
}

/** Byte-wise equality of typed arrays; jest's toEqual walks element by element and takes seconds on images. */
export function sameBytes(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}
