import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { backdoorTestSet, poisonCleanLabel } from '../../src/attacks/poison';
import { sig, sigSignal } from '../../src/attacks/sig';
import { applyTrigger } from '../../src/attacks/trigger';
import { Dataset, imageSize } from '../../src/data/dataset';
import { parseConfig } from '../../src/experiment/config';
import { Experiment } from '../../src/experiment/runner';
import { initEngine } from '../../src/engine/backend';

function constantDataset(n: number, h: number, w: number, c: number, value: number, numClasses = 4): Dataset {
  const labels = Int32Array.from({ length: n }, (_, i) => i % numClasses);
  return { name: 'const', images: new Uint8Array(n * h * w * c).fill(value), labels, n, height: h, width: w, channels: c, numClasses, flipInvariant: true };
}

describe('SIG trigger', () => {
  test('x\' = clip(round(x + Δ sin(2π j f / W))), the same on every row and channel', () => {
    const d = constantDataset(1, 3, 8, 2, 100);
    const t = applyTrigger(d, sig({ delta: 40, frequency: 2 }));
    for (let y = 0; y < 3; y++) {
      for (let x = 0; x < 8; x++) {
        for (let c = 0; c < 2; c++) {
          expect(t.images[(y * 8 + x) * 2 + c]).toBe(Math.round(100 + 40 * Math.sin((2 * Math.PI * x * 2) / 8)));
        }
      }
    }
    // f = 2 periods over W = 8: sin(πj/2) is 1 at j = 1 and −1 at j = 3.
    expect(t.images[1 * 2]).toBe(140);
    expect(t.images[3 * 2]).toBe(60);
  });

  test('clips at 0 and 255', () => {
    const dark = applyTrigger(constantDataset(1, 1, 8, 1, 10), sig({ delta: 40, frequency: 2 }));
    const bright = applyTrigger(constantDataset(1, 1, 8, 1, 250), sig({ delta: 40, frequency: 2 }));
    expect(dark.images[3]).toBe(0);
    expect(bright.images[1]).toBe(255);
    expect(Math.min(...dark.images)).toBeGreaterThanOrEqual(0);
  });

  test('defaults are Δ = 40, f = 6; bad options are refused', () => {
    expect(sig().name).toBe('sig-d40-f6');
    const s = sigSignal(28, 40, 6);
    expect(s[0]).toBe(0);
    expect(Math.max(...s)).toBeCloseTo(40 * Math.max(...Array.from({ length: 28 }, (_, j) => Math.sin((2 * Math.PI * j * 6) / 28))), 10);
    expect(() => sig({ delta: 0 })).toThrow(/delta/);
    expect(() => sig({ frequency: -1 })).toThrow(/frequency/);
  });
});

describe('SIG clean-label poisoning', () => {
  test('only target-class images get the signal, labels unchanged, count round(rate·N)', () => {
    const d = constantDataset(40, 4, 4, 1, 120, 4);
    const p = poisonCleanLabel(d, sig({ frequency: 1 }), { rate: 0.1, target: 2, seed: 3 });
    expect(p.poisonedIndices.length).toBe(4);
    expect(Array.from(p.dataset.labels)).toEqual(Array.from(d.labels));
    const size = imageSize(d);
    const poisoned = new Set(p.poisonedIndices);
    for (let i = 0; i < d.n; i++) {
      const changed = p.dataset.images.subarray(i * size, (i + 1) * size).some((v, k) => v !== d.images[i * size + k]);
      expect(changed).toBe(poisoned.has(i));
      if (poisoned.has(i)) expect(d.labels[i]).toBe(2);
    }
  });

  test('a rate beyond the target class uses every target image', () => {
    const d = constantDataset(40, 4, 4, 1, 120, 4);
    const p = poisonCleanLabel(d, sig(), { rate: 0.5, target: 1, seed: 0 });
    expect(Array.from(p.poisonedIndices)).toEqual(Array.from({ length: 10 }, (_, k) => 4 * k + 1));
  });

  test('the test trigger is the same signal on non-target images', () => {
    const d = constantDataset(8, 4, 4, 1, 120, 4);
    const bd = backdoorTestSet(d, sig(), 0);
    expect(bd.n).toBe(6);
    expect(Array.from(bd.images.subarray(0, 16))).toEqual(Array.from(applyTrigger(constantDataset(1, 4, 4, 1, 120), sig()).images));
  });
});

describe('SIG through the experiment', () => {
  let runsDir: string;
  beforeAll(async () => {
    await initEngine({ quiet: true });
    runsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-sig-'));
  });
  afterAll(() => fs.rmSync(runsDir, { recursive: true, force: true }));

  test('config: a sig section with the spec defaults only for sig; the clean twin keys like a plain none', () => {
    const c = parseConfig({ attack: { name: 'sig' } });
    expect(c.attack.sig).toEqual({ delta: 40, frequency: 6 });
    expect(c.attack.poisonRate).toBe(0.05);
    expect(parseConfig({}).attack).not.toHaveProperty('sig');
    const twin = parseConfig({ ...c, attack: { ...c.attack, name: 'none' } });
    expect(twin.attack).toEqual(parseConfig({ attack: { name: 'none' } }).attack);
  });

  test('run() poisons target-class images only, keeps labels, trains, and reloads from the cache', async () => {
    const cfg = {
      dataset: 'synthetic' as const, runsDir,
      model: { arch: 'cnn' as const, widths: [8, 16] },
      attack: { name: 'sig' as const, poisonRate: 0.1, target: 1, sig: { delta: 30, frequency: 4 } },
      train: { epochs: 1, batchSize: 64 },
    };
    const exp = new Experiment(cfg, { log: () => undefined, progress: 'silent' });
    const r = await exp.run();
    const train = r.data.train;
    expect(r.poison.poisonedIndices.length).toBe(Math.round(0.1 * train.n));
    expect(Array.from(r.poison.train.labels)).toEqual(Array.from(train.labels));
    const size = imageSize(train);
    const poisoned = new Set(r.poison.poisonedIndices);
    let changed = 0;
    for (let i = 0; i < train.n; i++) {
      const diff = r.poison.train.images.subarray(i * size, (i + 1) * size).some((v, k) => v !== train.images[i * size + k]);
      if (diff) changed++;
      if (poisoned.has(i)) expect(train.labels[i]).toBe(1);
      else expect(diff).toBe(false);
    }
    expect(changed).toBeGreaterThan(0.9 * poisoned.size);
    expect(r.poison.trigger.name).toBe('sig-d30-f4');
    expect(r.poison.backdoorTest!.n).toBe(Array.from(r.data.test.labels).filter((y) => y !== 1).length);
    expect(Number.isFinite(r.evaluation.asr)).toBe(true);
    const again = await new Experiment(cfg, { log: () => undefined, progress: 'silent' }).run();
    expect(again.trained.cached).toBe(true);
    expect(again.keys).toEqual(r.keys);
  });
});
