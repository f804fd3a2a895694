/**
 * From the experiment config's attack section to a trigger and a poisoned training set. Attacks that
 * need a trained network (LC's robust model, SSBA's encoder) receive it in `assets`, which the runner
 * builds as cached stages of their own (src/experiment/attackAssets.ts).
 */
import { Dataset } from '../data/dataset';
import { AttackConfig } from '../experiment/config';
import { Model } from '../models/spec';
import { ProgressMode } from '../train/progress';
import { badnets } from './badnets';
import { blended } from './blended';
import { craftAdversarial, lcCorners } from './lc';
import { poisonCleanLabel, poisonDirtyLabel, PoisonedSet } from './poison';
import { sig } from './sig';
import { SsbaCodec, ssbaTrigger } from './ssba';
import { Trigger } from './trigger';
import { poisonWanet, wanet } from './wanet';

/** Trained networks some attacks need; each attack checks for its own. */
export interface AttackAssets {
  /** LC: the adversarially trained model whose PGD examples replace the poisoned images. */
  robust?: Model;
  /** SSBA: the trained encoder–decoder whose encoder is the trigger. */
  ssba?: SsbaCodec;
  /** Progress display for the long poisoning computations (LC's PGD). */
  progress?: ProgressMode;
}

/** Clean-label attacks poison target-class images only and keep every label. */
export const CLEAN_LABEL_ATTACKS: readonly AttackConfig['name'][] = ['sig', 'lc'];

function section<T>(value: T | undefined, name: string): T {
  if (!value) throw new Error(`attack "${name}" has no settings section (parse the config with parseConfig)`);
  return value;
}

/** The test-time trigger (for LC: the corner pattern alone, without the adversarial perturbation). */
export function triggerFromConfig(attack: AttackConfig, assets: AttackAssets = {}): Trigger {
  switch (attack.name) {
    case 'badnets':
      return badnets({ size: attack.patchSize, position: attack.patchPosition });
    case 'blended':
      return blended({ alpha: attack.blendAlpha, patternFile: attack.blendPattern, patternSeed: attack.patternSeed });
    case 'sig': {
      const c = section(attack.sig, 'sig');
      return sig({ delta: c.delta, frequency: c.frequency });
    }
    case 'wanet': {
      const c = section(attack.wanet, 'wanet');
      return wanet({ k: c.k, s: c.s, gridRescale: c.gridRescale, seed: attack.patternSeed });
    }
    case 'lc':
      return lcCorners(section(attack.lc, 'lc').amplitude);
    case 'ssba': {
      const c = section(attack.ssba, 'ssba');
      if (!assets.ssba) throw new Error('attack "ssba" needs its trained encoder (the runner\'s ssba-encoder stage; Experiment.poison() builds it)');
      return ssbaTrigger(assets.ssba, c.secretSeed);
    }
    case 'none':
      throw new Error('attack "none" has no trigger');
  }
}

/** The victim's poisoned training set for a (non-`none`) attack. */
export function poisonFromConfig(train: Dataset, attack: AttackConfig, seed: number, assets: AttackAssets = {}): PoisonedSet {
  const trigger = triggerFromConfig(attack, assets);
  const opts = { rate: attack.poisonRate, target: attack.target, seed };
  switch (attack.name) {
    case 'sig':
      return poisonCleanLabel(train, trigger, opts);
    case 'lc': {
      const c = section(attack.lc, 'lc');
      const robust = assets.robust;
      if (!robust) throw new Error('attack "lc" needs its adversarially trained model (the runner\'s lc-robust stage)');
      return poisonCleanLabel(train, trigger, {
        ...opts,
        prepare: (chosen) => craftAdversarial(robust, chosen, { epsilon: c.epsilon, stepSize: c.stepSize, steps: c.steps, progress: assets.progress }),
      });
    }
    case 'wanet': {
      const c = section(attack.wanet, 'wanet');
      return poisonWanet(train, { ...opts, crossRatio: c.crossRatio, warp: { k: c.k, s: c.s, gridRescale: c.gridRescale, seed: attack.patternSeed } });
    }
    default:
      return poisonDirtyLabel(train, trigger, opts);
  }
}
