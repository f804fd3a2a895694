/**
 * The trained networks that some attacks need before they can poison (LC's adversarially trained
 * model, SSBA's encoder), each a cached stage keyed by its config slice and the data key, so the poison
 * stage that consumes it is keyed by both.
 */
import { AttackAssets } from '../attacks/registry';
import { Dataset } from '../data/dataset';
import { trainRobustModel } from '../attacks/lc';
import { createSsbaCodec, trainSsbaCodec } from '../attacks/ssba';
import { loadModel, saveModel } from '../models/io';
import { loadModelArtifact, saveModelArtifact } from '../models/artifact';
import { defaultSpec } from '../models/model';
import { ProgressMode } from '../train/progress';
import { AttackConfig, ExperimentConfig } from './config';
import { saveJson } from '../io/json';
import { ArtifactStore } from './cache';

/** Attacks whose poisoned pixels are stored in the poison artifact instead of recomputed on load. */
export const STORES_PIXELS: readonly AttackConfig['name'][] = ['lc', 'ssba'];

/** The part of the data stage the assets depend on: what they train on, and its content key. */
export interface AssetData {
  train: Dataset;
  key: string;
}

export interface AssetOptions {
  log: (line: string) => void;
  progress?: ProgressMode;
}

export async function attackAssets(config: ExperimentConfig, data: AssetData, store: ArtifactStore,
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
          const out = await trainRobustModel(train, { ...lc.robust, epsilon: lc.epsilon, seed: config.seed, progress: opts.progress });
          await saveModelArtifact(dir, out.model, { robust: 'pgd-adversarial-training' });
          await saveJson(dir, 'history.json', out.history);
          return out.model;
        },
        load: (dir) => loadModelArtifact(dir, spec),
      });
      return { value: { robust: r.value, progress: opts.progress }, key: r.key };
    }
    case 'ssba': {
      const c = attack.ssba!;
      const train = data.train;
      const { secretSeed: _secret, ...training } = c;
      void _secret; // the secret is chosen at encoding time: one trained codec serves every secret
      const codecSpec = { height: train.height, width: train.width, channels: train.channels, bits: c.bits, amplitude: c.amplitude };
      const r = await store.getOrCompute('ssba-encoder', { codec: training, seed: config.seed }, [data.key], {
        log: opts.log,
        compute: async (dir) => {
          const out = trainSsbaCodec(train, { ...training, seed: config.seed, progress: opts.progress });
          await saveModel(dir, out.codec.params, { ssba: codecSpec });
          await saveJson(dir, 'report.json', out.report);
          opts.log(`SSBA encoder: bit accuracy ${(out.report.bitAccuracy * 100).toFixed(1)}%, mean |residual| ${(out.report.meanAbsResidual * 255).toFixed(1)}/255, ${out.report.seconds.toFixed(0)}s`);
          return out.codec;
        },
        load: async (dir) => {
          const template = createSsbaCodec(codecSpec, 0);
          const { tensors } = await loadModel(dir);
          for (const [name, t] of Object.entries(template.params)) {
            const got = tensors[name];
            if (!got || got.shape.join() !== t.shape.join()) throw new Error(`${dir}: SSBA codec tensor ${name} missing or misshapen`);
            t.dispose();
          }
          return { spec: codecSpec, params: tensors };
        },
      });
      return { value: { ssba: r.value }, key: r.key };
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
