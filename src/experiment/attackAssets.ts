/**
 * The trained networks that some attacks need before they can poison (LC's adversarially trained
 * model, SSBA's encoder), each a cached stage keyed by its config slice and the data key, so the poison
 * stage that consumes it is keyed by both.
 */
import { AttackAssets } from '../attacks/registry';
import { trainRobustModel } from '../attacks/lc';
import { loadModelArtifact, saveModelArtifact } from '../models/artifact';
import { defaultSpec } from '../models/model';
import { ProgressMode } from '../train/progress';
import { AttackConfig, ExperimentConfig } from './config';
import { ArtifactStore, loadJson, saveJson } from './cache';
import type { DataBundle } from './runner';

/** Attacks whose poisoned pixels are stored in the poison artifact instead of recomputed on load. */
export const STORES_PIXELS: readonly AttackConfig['name'][] = ['lc', 'ssba'];

export interface AssetOptions {
  log: (line: string) => void;
  progress?: ProgressMode;
}

export async function attackAssets(config: ExperimentConfig, data: DataBundle, store: ArtifactStore,
  opts: AssetOptions): Promise<{ value: AttackAssets; key?: string }> {
  const attack = config.attack;
  switch (attack.name) {
    case 'lc': {
      const lc = attack.lc!;
      const train = data.train;
      const spec = defaultSpec('cnn', [train.height, train.width, train.channels], train.numClasses, { widths: lc.robust.widths });
      const r = await store.getOrCompute('lc-robust', { robust: lc.robust, epsilon: lc.epsilon, seed: config.seed }, [data.key], {
        log: opts.log,
        compute: async (dir) => {
          const out = trainRobustModel(train, { ...lc.robust, epsilon: lc.epsilon, seed: config.seed, progress: opts.progress });
          await saveModelArtifact(dir, out.model, { robust: 'pgd-adversarial-training' });
          await saveJson(dir, 'history.json', out.history);
          return out.model;
        },
        load: (dir) => loadModelArtifact(dir, spec),
      });
      return { value: { robust: r.value, progress: opts.progress }, key: r.key };
    }
    default:
      return { value: {} };
  }
}

/** Release what the poison stage no longer needs (LC's model; SSBA's encoder stays: it is the test trigger). */
export function releaseAfterPoisoning(assets: AttackAssets): void {
  if (assets.robust) {
    for (const t of [...Object.values(assets.robust.params), ...Object.values(assets.robust.state)]) t.dispose();
    assets.robust = undefined;
  }
}
