import { mkdtempSync, promises as fs, readdirSync, rmSync } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadJson, saveJson } from '../../src/io/json';
import { ArtifactStore } from '../../src/experiment/cache';

let root: string;
let store: ArtifactStore;
beforeEach(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'artifact-store-'));
  store = new ArtifactStore(root);
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

/** A stage that writes a JSON result and a binary blob, counting how often it really runs. */
function stage(value = 42) {
  const calls = { compute: 0, load: 0 };
  const warnings: string[] = [];
  const spec = {
    compute: async (dir: string) => {
      calls.compute++;
      await saveJson(dir, 'result.json', { value });
      await fs.mkdir(path.join(dir, 'sub'));
      await fs.writeFile(path.join(dir, 'sub', 'blob.bin'), Buffer.alloc(1000, 7));
      return value;
    },
    load: async (dir: string) => {
      calls.load++;
      return (await loadJson<{ value: number }>(dir, 'result.json')).value;
    },
    log: (m: string) => warnings.push(m),
  };
  return { spec, calls, warnings };
}

const config = { lr: 0.1, nested: { a: 1, b: [1, 2] } };

describe('ArtifactStore.getOrCompute', () => {
  it('computes once, then loads from the cache', async () => {
    const { spec, calls } = stage();
    const first = await store.getOrCompute('train', config, ['data1'], spec);
    const second = await store.getOrCompute('train', config, ['data1'], spec);
    expect(first).toMatchObject({ value: 42, cached: false });
    expect(second).toMatchObject({ value: 42, cached: true, key: first.key, dir: first.dir });
    expect(calls).toEqual({ compute: 1, load: 1 });
    expect(first.dir).toBe(path.join(root, 'train', first.key));
    expect(store.has('train', first.key)).toBe(true);
    // Only the final directory remains: no temp dirs left behind.
    expect(readdirSync(path.join(root, 'train'))).toEqual([first.key]);
  });

  it('records provenance and per-file digests in artifact.json', async () => {
    const { spec } = stage();
    const { dir, key } = await store.getOrCompute('train', config, ['data1'], spec);
    const record = JSON.parse(await fs.readFile(path.join(dir, 'artifact.json'), 'utf8'));
    expect(record).toMatchObject({ version: 1, stage: 'train', key, config, inputs: ['data1'] });
    expect(Object.keys(record.files).sort()).toEqual(['result.json', 'sub/blob.bin']);
    expect(record.files['sub/blob.bin'].size).toBe(1000);
    expect(record.files['sub/blob.bin'].sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(typeof record.durationMs).toBe('number');
    expect(Number.isNaN(Date.parse(record.createdAt))).toBe(false);
  });

  it('misses when the config or the input keys change', async () => {
    const { spec, calls } = stage();
    const a = await store.getOrCompute('train', config, ['data1'], spec);
    const b = await store.getOrCompute('train', { ...config, lr: 0.2 }, ['data1'], spec);
    const c = await store.getOrCompute('train', config, ['data2'], spec);
    const d = await store.getOrCompute('eval', config, ['data1'], spec);
    expect(new Set([a.key, b.key, c.key, d.key]).size).toBe(4);
    expect(calls.compute).toBe(4);
    expect([b.cached, c.cached, d.cached]).toEqual([false, false, false]);
  });

  it('gives the same key whatever the order of object keys', async () => {
    const reordered = { nested: { b: [1, 2], a: 1 }, lr: 0.1 };
    expect(store.key('train', reordered, ['x'])).toBe(store.key('train', config, ['x']));
    const { spec, calls } = stage();
    await store.getOrCompute('train', config, ['x'], spec);
    expect((await store.getOrCompute('train', reordered, ['x'], spec)).cached).toBe(true);
    expect(calls.compute).toBe(1);
  });

  it('keys depend on input order (inputs are positional)', () => {
    expect(store.key('s', {}, ['a', 'b'])).not.toBe(store.key('s', {}, ['b', 'a']));
  });

  describe('corruption', () => {
    async function expectRecovered(damage: (dir: string) => Promise<void>, problem: RegExp) {
      const { spec, calls, warnings } = stage();
      const first = await store.getOrCompute('train', config, [], spec);
      await damage(first.dir);
      expect(await store.verify('train', first.key)).toMatch(problem);

      const again = await store.getOrCompute('train', config, [], spec);
      expect(again).toMatchObject({ value: 42, cached: false, key: first.key, dir: first.dir });
      expect(calls.compute).toBe(2);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(problem);
      expect(warnings[0]).toContain(`train/${first.key}`);

      // The damaged copy is kept as evidence next to the fresh one.
      const entries = readdirSync(path.join(root, 'train')).sort();
      expect(entries).toHaveLength(2);
      expect(entries[0]).toBe(first.key);
      expect(entries[1]).toMatch(new RegExp(`^${first.key}\\.corrupt-\\d{4}-\\d\\d-\\d\\dT`));
      expect(await store.verify('train', first.key)).toBeNull();
      expect((await store.getOrCompute('train', config, [], spec)).cached).toBe(true);
    }

    it('detects a truncated file', () =>
      expectRecovered((dir) => fs.truncate(path.join(dir, 'sub', 'blob.bin'), 500), /"sub\/blob\.bin" is 500 bytes, expected 1000 \(truncated\?\)/));

    it('detects a same-size edit through the checksum', () =>
      expectRecovered(async (dir) => {
        await fs.writeFile(path.join(dir, 'sub', 'blob.bin'), Buffer.alloc(1000, 8));
      }, /"sub\/blob\.bin" has sha256 .* \(modified after it was written\?\)/));

    it('detects a deleted file', () =>
      expectRecovered((dir) => fs.rm(path.join(dir, 'result.json')), /file "result\.json" is missing/));

    it('detects a garbage artifact.json', () =>
      expectRecovered((dir) => fs.writeFile(path.join(dir, 'artifact.json'), '{not json'), /artifact\.json: not valid JSON/));

    it('detects a missing artifact.json', () =>
      expectRecovered((dir) => fs.rm(path.join(dir, 'artifact.json')), /artifact\.json: file not found/));

    it('detects an artifact.json whose provenance was edited', () =>
      expectRecovered(async (dir) => {
        const file = path.join(dir, 'artifact.json');
        const record = JSON.parse(await fs.readFile(file, 'utf8'));
        record.config.lr = 0.5;
        await fs.writeFile(file, JSON.stringify(record));
      }, /config\/inputs hash to [0-9a-f]+, not to the directory key/));

    it('detects a structurally wrong artifact.json', () =>
      expectRecovered(async (dir) => {
        const file = path.join(dir, 'artifact.json');
        const record = JSON.parse(await fs.readFile(file, 'utf8'));
        delete record.files;
        await fs.writeFile(file, JSON.stringify(record));
      }, /artifact\.json is malformed: files: Required/));
  });

  it('leaves nothing behind when compute throws', async () => {
    const failing = {
      compute: async (dir: string) => {
        await fs.writeFile(path.join(dir, 'partial.bin'), 'half');
        throw new Error('out of memory');
      },
      load: async () => 0,
    };
    await expect(store.getOrCompute('train', config, [], failing)).rejects.toThrow('out of memory');
    const key = store.key('train', config, []);
    expect(store.has('train', key)).toBe(false);
    expect(readdirSync(path.join(root, 'train'))).toEqual([]);
  });

  it('keeps the artifact another process finished first', async () => {
    const { spec } = stage(1);
    const key = store.key('train', config, []);
    const racing = {
      ...spec,
      compute: async (dir: string) => {
        // While we compute, a "second process" completes the same artifact.
        await new ArtifactStore(root).getOrCompute('train', config, [], stage(1).spec);
        return spec.compute(dir);
      },
    };
    const result = await store.getOrCompute('train', config, [], racing);
    expect(result).toMatchObject({ value: 1, cached: false, key });
    expect(readdirSync(path.join(root, 'train'))).toEqual([key]);
    expect(await store.verify('train', key)).toBeNull();
  });

  it('reports a loader failure on an intact artifact instead of discarding the artifact', async () => {
    const { spec } = stage();
    const { key, dir } = await store.getOrCompute('train', config, [], spec);
    const broken = { ...spec, load: async () => { throw new Error('schema changed'); } };
    await expect(store.getOrCompute('train', config, [], broken)).rejects.toThrow(
      `train/${key}: artifact is intact but load() failed: schema changed`,
    );
    expect(readdirSync(path.join(root, 'train'))).toEqual([path.basename(dir)]);
  });

  it('rejects stage names that are not a single path segment', () => {
    expect(() => store.key('../evil', {}, [])).toThrow(/stage "..\/evil"/);
    expect(() => store.key('a/b', {}, [])).toThrow(/becomes a directory name/);
  });

  it('rejects configs that cannot be hashed faithfully', () => {
    expect(() => store.key('train', { lr: NaN }, [])).toThrow(/lr is NaN/);
  });
});
