import * as fs from 'fs';
import * as path from 'path';
import { CIFAR10_CLASS_NAMES, findCifar10, loadCifar10, readCifar10Batches } from '../../src/data/cifar10';
import { cifarBatch, CIFAR_RECORD, makeTmpDir, removeDir } from './fixtures';

/** Five train batches of 2..6 records and a 3-record test batch. */
function writeCifarDir(dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  for (let b = 1; b <= 5; b++) {
    fs.writeFileSync(path.join(dir, `data_batch_${b}.bin`), cifarBatch(Array.from({ length: b + 1 }, (_, i) => (b + i) % 10)));
  }
  fs.writeFileSync(path.join(dir, 'test_batch.bin'), cifarBatch([3, 9, 0]));
  return dir;
}

describe('CIFAR-10 binary batches', () => {
  let root: string;
  let savedEnv: string | undefined;
  beforeEach(() => {
    root = makeTmpDir();
    savedEnv = process.env.CIFAR10_DIR;
    delete process.env.CIFAR10_DIR;
  });
  afterEach(() => {
    if (savedEnv !== undefined) process.env.CIFAR10_DIR = savedEnv;
    removeDir(root);
  });

  test('loads all batches in order and converts CHW records to NHWC', () => {
    const { train, test } = loadCifar10(writeCifarDir(path.join(root, 'c')));
    expect(train).toMatchObject({ n: 2 + 3 + 4 + 5 + 6, height: 32, width: 32, channels: 3, numClasses: 10, flipInvariant: true });
    expect(train.classNames).toEqual(CIFAR10_CLASS_NAMES);
    expect(Array.from(train.labels.subarray(0, 5))).toEqual([1, 2, 2, 3, 4]);
    expect(Array.from(test.labels)).toEqual([3, 9, 0]);
    // Test record 1, pixel p = row 2, col 5: R = record index, G = 100 + p % 100, B = 200 + record index.
    const p = 2 * 32 + 5;
    const at = (1 * 1024 + p) * 3;
    expect(Array.from(test.images.subarray(at, at + 3))).toEqual([1, 100 + (p % 100), 201]);
    expect(test.images.length).toBe(3 * 32 * 32 * 3);
  });

  test('finds the data via CIFAR10_DIR and inside an extracted cifar-10-batches-bin folder', () => {
    writeCifarDir(path.join(root, 'extracted', 'cifar-10-batches-bin'));
    process.env.CIFAR10_DIR = path.join(root, 'extracted');
    expect(findCifar10()).toBe(path.join(root, 'extracted', 'cifar-10-batches-bin'));
    expect(loadCifar10().test.n).toBe(3);
  });

  test('not found lists the places looked and how to get the data', () => {
    const where = path.join(root, 'none');
    expect(() => loadCifar10(where)).toThrow(/CIFAR-10 not found/);
    let msg = '';
    try { findCifar10(where); } catch (e) { msg = (e as Error).message; }
    expect(msg).toContain(`  - ${where}\n`);
    expect(msg).toContain(`  - ${path.join(where, 'cifar-10-batches-bin')}\n`);
    expect(msg).toContain('$CIFAR10_DIR is not set');
    expect(msg).toContain('cifar-10-binary.tar.gz');
  });

  test('a truncated batch is a clear error', () => {
    const file = path.join(root, 'data_batch_1.bin');
    fs.writeFileSync(file, cifarBatch([1, 2]).subarray(0, CIFAR_RECORD + 100));
    expect(() => readCifar10Batches([file], 'x')).toThrow(
      'data_batch_1.bin: 3173 bytes is not a whole number of 3073-byte records (1 label + 3072 pixels): ' +
      '1 full records and 100 bytes left over; the file is truncated or not a CIFAR-10 binary batch');
    fs.writeFileSync(file, Buffer.alloc(0));
    expect(() => readCifar10Batches([file], 'x')).toThrow(/data_batch_1\.bin: 0 bytes/);
  });

  test('a label >= 10 is a clear error', () => {
    const file = path.join(root, 'test_batch.bin');
    fs.writeFileSync(file, cifarBatch([1, 2, 57]));
    expect(() => readCifar10Batches([file], 'x')).toThrow('test_batch.bin: record 2 has label 57, CIFAR-10 labels are 0..9');
  });
});
