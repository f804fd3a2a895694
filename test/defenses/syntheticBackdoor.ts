/**
 * A small backdoored model on synthetic data for the defense tests (~3 s to train, cached per test file in a
 * temporary runs directory): 10% poisoning on 16x16 gratings, cnn widths [8, 16], and a defender's clean
 * split of 20% (400 images) so that a few epochs of tuning have something to learn from.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { triggerFromConfig } from '../../src/attacks/registry';
import { subset } from '../../src/data/dataset';
import { DefenseData } from '../../src/defenses/types';
import { Experiment, RunResult } from '../../src/experiment/runner';

export function syntheticExperiment(runsDir: string, attack: 'badnets' | 'blended' = 'badnets'): Experiment {
  return new Experiment({
    dataset: 'synthetic', runsDir,
    model: { arch: 'cnn', widths: [8, 16] },
    attack: { name: attack, poisonRate: 0.1, target: 0 },
    train: { epochs: 5, batchSize: 32, lr: 0.05 },
    split: { defenseFraction: 0.2, attackerPoolSize: 100 },
  }, { log: () => undefined, progress: 'silent' });
}

export function tempRunsDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'ss-defense-'));
}

export function defenseData(run: RunResult): DefenseData {
  return {
    clean: subset(run.data.train, run.data.splits.defense, 'synthetic/defense'),
    oracle: { trigger: triggerFromConfig(run.config.attack), target: run.config.attack.target },
    progress: 'silent',
  };
}

/**
 * Register the usual hooks of a defense test file: initialise the engine, train (or load) the synthetic
 * BadNets and Blended models once, and remove the temporary runs directory at the end. The returned record
 * is filled in by beforeAll.
 */
export function useSyntheticRuns(): Record<'badnets' | 'blended', RunResult> {
  const runsDir = tempRunsDir();
  const runs = {} as Record<'badnets' | 'blended', RunResult>;
  beforeAll(async () => {
    const { initEngine } = await import('../../src/engine/backend');
    await initEngine({ backend: 'wasm', quiet: true });
    for (const attack of ['badnets', 'blended'] as const) runs[attack] = await syntheticExperiment(runsDir, attack).run();
  });
  afterAll(() => fs.rmSync(runsDir, { recursive: true, force: true }));
  return runs;
}
