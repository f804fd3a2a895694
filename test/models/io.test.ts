import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, promises as fs, readdirSync, rmSync } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { decodeModel, encodeModel, loadModel, NamedTensors, saveModel, WeightsManifest } from '../../src/models/io';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'model-io-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** Awkward float values on purpose: bit-exactness must hold for -0, subnormals and extremes too. */
const floats = new Float32Array([0, -0, 1.5, -3.25e-38, 1e-45, 3.4e38, Math.PI, -1 / 3]);

function sampleModel(): NamedTensors {
  return {
    'conv1/w': tf.tensor4d(Float32Array.from({ length: 3 * 3 * 1 * 4 }, (_, i) => Math.sin(i) * 1e-3), [3, 3, 1, 4]),
    'bn/gamma': tf.tensor1d(floats),
    'step': tf.scalar(7, 'int32'),
    'counts': tf.tensor2d([[-2147483648, 2147483647], [0, -1]], [2, 2], 'int32'),
    'scale': tf.scalar(-0.125),
  };
}

function bitsOf(t: tf.Tensor): Uint8Array {
  const v = t.dataSync();
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength).slice();
}

function expectSameTensors(actual: NamedTensors, expected: NamedTensors) {
  expect(Object.keys(actual).sort()).toEqual(Object.keys(expected).sort());
  for (const name of Object.keys(expected)) {
    expect(actual[name].dtype).toBe(expected[name].dtype);
    expect(actual[name].shape).toEqual(expected[name].shape);
    expect(bitsOf(actual[name])).toEqual(bitsOf(expected[name]));
  }
}

async function saved(meta: Record<string, unknown> = { arch: 'cnn' }) {
  const tensors = sampleModel();
  await saveModel(dir, tensors, meta);
  return tensors;
}

const manifestPath = () => path.join(dir, 'manifest.json');
const weightsPath = () => path.join(dir, 'weights.bin');
const readManifest = async (): Promise<WeightsManifest> => JSON.parse(await fs.readFile(manifestPath(), 'utf8'));
const editManifest = async (edit: (m: WeightsManifest) => void) => {
  const m = await readManifest();
  edit(m);
  await fs.writeFile(manifestPath(), JSON.stringify(m));
};

describe('encodeModel / decodeModel', () => {
  it('round-trips float32 and int32, scalar to 4-D, bit-exact', async () => {
    const tensors = sampleModel();
    const { manifest, data } = await encodeModel(tensors, { arch: 'cnn', width: 1 });
    const decoded = decodeModel(manifest, data);
    expectSameTensors(decoded.tensors, tensors);
    expect(decoded.meta).toEqual({ arch: 'cnn', width: 1 });
  });

  it('lays tensors out by name with contiguous offsets, total length and digest', async () => {
    const { manifest, data } = await encodeModel(sampleModel(), {});
    expect(manifest.format).toBe('superficial-safety/weights');
    expect(manifest.formatVersion).toBe(1);
    expect(manifest.tensors.map((t) => t.name)).toEqual(['bn/gamma', 'conv1/w', 'counts', 'scale', 'step']);
    expect(manifest.tensors.map((t) => [t.offset, t.byteLength])).toEqual([[0, 32], [32, 144], [176, 16], [192, 4], [196, 4]]);
    expect(manifest.tensors[2]).toMatchObject({ dtype: 'int32', shape: [2, 2] });
    expect(manifest.tensors[3].shape).toEqual([]);
    expect(manifest.byteLength).toBe(200);
    expect(data.byteLength).toBe(200);
    expect(manifest.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('is deterministic whatever the insertion order', async () => {
    const t = sampleModel();
    const reversed = Object.fromEntries(Object.entries(t).reverse());
    const a = await encodeModel(t, { b: 1, a: 2 });
    const b = await encodeModel(reversed, { a: 2, b: 1 });
    expect(b.data).toEqual(a.data);
    expect(JSON.stringify(b.manifest)).toBe(JSON.stringify(a.manifest));
  });

  it('refuses dtypes it cannot store and meta that is not JSON', async () => {
    await expect(encodeModel({ mask: tf.tensor1d([1, 0], 'bool') }, {})).rejects.toThrow(
      'encodeModel: tensor "mask" has dtype bool; only float32 and int32 can be saved',
    );
    await expect(encodeModel({ w: tf.scalar(1) }, { acc: NaN })).rejects.toThrow(/meta is not plain JSON.*acc is NaN/);
  });

  it.each<[string, (m: any) => void, RegExp]>([
    ['an unknown format version', (m) => { m.formatVersion = 2; }, /formatVersion 2 is not supported/],
    ['an empty name', (m) => { m.tensors[0].name = ''; }, /tensors\[0\] needs a non-empty string name/],
    ['a duplicate name', (m) => { m.tensors[1].name = m.tensors[0].name; }, /tensor "bn\/gamma" appears more than once/],
    ['an unsupported dtype', (m) => { m.tensors[0].dtype = 'string'; }, /tensor "bn\/gamma" has dtype "string"; only float32 and int32/],
    ['a negative dimension', (m) => { m.tensors[1].shape = [3, -3, 1, 4]; }, /tensor "conv1\/w" has shape \[3,-3,1,4\]; expected an array of non-negative integers/],
    ['a fractional dimension', (m) => { m.tensors[1].shape = [3, 1.5, 1, 4]; }, /tensor "conv1\/w" has shape/],
    ['a wrong shape', (m) => { m.tensors[1].shape = [3, 3, 1, 5]; },
      /tensor "conv1\/w" has shape \[3,3,1,5\] \(45 elements × 4 bytes = 180 bytes\) but byteLength 144/],
    ['a gap between tensors', (m) => { m.tensors[2].offset += 4; }, /tensor "counts" starts at offset 180 but the previous tensor ends at 176/],
    ['a wrong total', (m) => { m.byteLength = 204; }, /byteLength is 204 but the tensors add up to 200 bytes/],
    ['no digest', (m) => { delete m.sha256; }, /sha256 must be 64 lowercase hex digits/],
  ])('rejects a manifest with %s', async (_what, edit, message) => {
    const { manifest, data } = await encodeModel(sampleModel(), {});
    const m = JSON.parse(JSON.stringify(manifest));
    edit(m);
    expect(() => decodeModel(m, data)).toThrow(message);
  });

  it('rejects a manifest that is not an object', async () => {
    const { manifest, data } = await encodeModel(sampleModel(), {});
    expect(() => decodeModel([manifest], data)).toThrow('manifest.json: must be a JSON object');
  });
});

describe('saveModel / loadModel', () => {
  it('round-trips through disk, leaving exactly two files', async () => {
    const tensors = await saved({ arch: 'cnn', epochs: 6 });
    expect(readdirSync(dir).sort()).toEqual(['manifest.json', 'weights.bin']);
    const loaded = await loadModel(dir);
    expectSameTensors(loaded.tensors, tensors);
    expect(loaded.meta).toEqual({ arch: 'cnn', epochs: 6 });
  });

  it('overwrites an earlier save completely', async () => {
    await saveModel(dir, { a: tf.tensor1d([1, 2, 3]) }, { v: 1 });
    await saveModel(dir, { b: tf.scalar(4, 'int32') }, { v: 2 });
    const loaded = await loadModel(dir);
    expect(Object.keys(loaded.tensors)).toEqual(['b']);
    expect(loaded.meta).toEqual({ v: 2 });
    expect(readdirSync(dir).sort()).toEqual(['manifest.json', 'weights.bin']);
  });

  it('accepts the expected architecture', async () => {
    await saved();
    const loaded = await loadModel(dir, {
      expectNames: ['conv1/w', 'bn/gamma', 'step', 'counts', 'scale'],
      expectShapes: { 'conv1/w': [3, 3, 1, 4], step: [] },
    });
    expect(Object.keys(loaded.tensors)).toHaveLength(5);
  });

  it('reports a missing manifest or weights file by name', async () => {
    await expect(loadModel(dir)).rejects.toThrow(/manifest\.json: file not found/);
    await saved();
    await fs.rm(weightsPath());
    await expect(loadModel(dir)).rejects.toThrow(/weights\.bin: file not found \(manifest\.json refers to it\)/);
  });

  it('reports a truncated weights.bin, naming the first tensor cut off', async () => {
    await saved();
    await fs.truncate(weightsPath(), 100);
    await expect(loadModel(dir)).rejects.toThrow(
      /weights\.bin: tensor "conv1\/w" expects 144 bytes at offset 32 but the file has 100 bytes \(truncated\?\)/,
    );
  });

  it('reports trailing bytes', async () => {
    await saved();
    await fs.appendFile(weightsPath(), Buffer.alloc(8));
    await expect(loadModel(dir)).rejects.toThrow(/weights\.bin: has 208 bytes but the manifest accounts for 200 \(8 trailing bytes/);
  });

  it('reports a flipped byte through the digest', async () => {
    await saved();
    const bytes = await fs.readFile(weightsPath());
    bytes[100] ^= 0x01;
    await fs.writeFile(weightsPath(), bytes);
    await expect(loadModel(dir)).rejects.toThrow(/weights\.bin: sha256 is [0-9a-f]{12}\.\.\. but the manifest records [0-9a-f]{12}\.\.\./);
  });

  it('reports a manifest with a wrong shape', async () => {
    await saved();
    await editManifest((m) => { m.tensors[1].shape = [3, 3, 4, 1, 1, 2]; });
    await expect(loadModel(dir)).rejects.toThrow(/manifest\.json: tensor "conv1\/w" has shape \[3,3,4,1,1,2\] \(72 elements/);
  });

  it('reports duplicate names', async () => {
    await saved();
    await editManifest((m) => { m.tensors[4].name = 'scale'; });
    await expect(loadModel(dir)).rejects.toThrow(/manifest\.json: tensor "scale" appears more than once/);
  });

  it('reports a manifest that is not JSON', async () => {
    await saved();
    await fs.writeFile(manifestPath(), '{"format": "superficial-safety/weights",');
    await expect(loadModel(dir)).rejects.toThrow(/manifest\.json: not valid JSON/);
  });

  it('reports every mismatch with the expected architecture', async () => {
    await saved();
    const load = loadModel(dir, {
      expectNames: ['conv1/w', 'bn/gamma', 'step', 'counts', 'fc/w'],
      expectShapes: { 'conv1/w': [3, 3, 1, 8], 'fc/w': [10, 4] },
    });
    await expect(load).rejects.toThrow(
      'does not match the expected architecture: missing tensors the architecture needs: "fc/w"; ' +
        'has tensors the architecture does not: "scale"; ' +
        'tensor "conv1/w" has shape [3,3,1,4] but the architecture expects [3,3,1,8]',
    );
    await expect(loadModel(dir, { expectShapes: { 'fc/w': [1] } })).rejects.toThrow('missing tensor "fc/w"');
  });

  it('never leaves a manifest or temp files behind when saving fails', async () => {
    await expect(saveModel(dir, { bad: tf.tensor1d([true], 'bool') }, {})).rejects.toThrow(/dtype bool/);
    expect(readdirSync(dir)).toEqual([]);
    // Make the weights rename fail after both temp files are written.
    await fs.mkdir(path.join(weightsPath(), 'occupied'), { recursive: true });
    await expect(saveModel(dir, sampleModel(), {})).rejects.toThrow();
    expect(readdirSync(dir)).toEqual(['weights.bin']);
  });
});
