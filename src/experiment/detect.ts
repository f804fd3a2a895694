/**
 * The `bti-detect` stage: BTI-DBF's target detection alone (generator pretraining and the first reversal
 * round) on one cached model, so that detection can be measured over many targets and trigger positions
 * without paying for the unlearning. It uses exactly the code and config BTI and PAM use, on the same
 * clean split, so what it reports is what those defenses would detect. The true target is read only to
 * grade the result after detection has run.
 */
import { applyTrigger } from '../attacks/trigger';
import { Dataset, subset } from '../data/dataset';
import { Model } from '../models/spec';
import { Rng } from '../rng';
import { bti, BtiConfig } from '../defenses/bti';
import {
  cleanFeatures, disposeReversal, FeatureCache, learnFeatureMask, PredictionCounts, reverseRound, RoundReport, startReversal,
} from '../defenses/btiReversal';
import { parseDefenseConfig } from '../defenses/config';
import { ScanResult } from '../defenses/targetScan';
import { loadJson, saveJson } from '../io/json';
import { Experiment, RunResult } from './runner';

export interface DetectionRecord {
  /** The class the reversal detected (by its `targetRule`). */
  detected: number;
  /** The authors' read-off (G's most frequent class), recorded whichever rule named the target. */
  generatorDetected: number;
  /** The per-class scan, when the rule is 'scan'. */
  scan?: ScanResult;
  /** The backdoor's real target, or null for a clean model (then any detection is a false alarm). */
  target: number | null;
  correct: boolean | null;
  counts: PredictionCounts;
  round: RoundReport;
  /**
   * The real trigger scored by the reversal's own objective on the same clean images and mask, next to
   * G's score (`round`): whether the objective prefers the trigger to what G found. Absent for a clean model.
   */
  trigger?: ObjectiveScore;
  /** G's score in the same units. */
  generator?: ObjectiveScore;
  seconds: number;
  config: Record<string, unknown>;
}

export interface ObjectiveScore {
  /** Pixel MSE in units of σ² (the budget is `normBound`). */
  pixelMse: number;
  /** Benign- and backdoor-feature MSE in units of the clean features' mean square (`benignBound`'s unit). */
  benign: number;
  backdoor: number;
}

export interface DetectionResult extends DetectionRecord {
  key: string;
  cached: boolean;
}

/** The objective's terms for the real trigger, with round 0's mask (same seed, so the same mask). */
function scoreTrigger(model: Model, clean: Dataset, feats: FeatureCache, triggered: Dataset, cfg: BtiConfig, seed: number,
  sigma: number): ObjectiveScore {
  const mask = learnFeatureMask(model, clean, feats, cfg, Rng.derive(seed, 'bti-round-0'));
  try {
    const m = mask.dataSync();
    const t = cleanFeatures(model, triggered);
    let benign = 0;
    let backdoor = 0;
    for (let i = 0; i < feats.values.length; i++) {
      const d = feats.values[i] - t.values[i];
      const w = m[i % feats.dim];
      benign += (d * w) ** 2;
      backdoor += (d * (1 - w)) ** 2;
    }
    let pixel = 0;
    for (let i = 0; i < clean.images.length; i++) pixel += ((clean.images[i] - triggered.images[i]) / 255) ** 2;
    const n = feats.values.length;
    return { pixelMse: pixel / clean.images.length / sigma ** 2, benign: benign / n / feats.meanSquare, backdoor: backdoor / n / feats.meanSquare };
  } finally {
    mask.dispose();
  }
}

export async function detectTarget(experiment: Experiment, opts: { config?: Record<string, unknown>; run?: RunResult;
  log?: (line: string) => void } = {}): Promise<DetectionResult> {
  const config = parseDefenseConfig(bti, opts.config ?? {}) as unknown as BtiConfig;
  const seed = experiment.config.seed;
  const run = opts.run ?? await experiment.run();
  const log = opts.log ?? ((s: string) => process.stderr.write(`${s}\n`));
  // Only the reversal's settings enter the key: the unlearning's do not change what is detected.
  const { rounds: _r, unlearnEpochs: _u, unlearnLr: _l, share: _s, featureWeight: _f, targetGiven: _t, ...reversal } = config;
  const r = await experiment.store.getOrCompute('bti-detect', { reversal, seed }, [run.keys.model, run.keys.data], {
    log,
    compute: async (dir) => {
      const started = Date.now();
      const clean = subset(run.data.train, run.data.splits.defense, `${run.data.train.name}/defense`);
      const state = startReversal(run.trained.model, clean, config, seed);
      try {
        const round = reverseRound(run.trained.model, clean, state, 0, config, seed);
        const target = run.config.attack.name === 'none' ? null : run.config.attack.target;
        const feats = cleanFeatures(run.trained.model, clean);
        const generator = { pixelMse: round.pixelMse, benign: round.benignMse / feats.meanSquare, backdoor: round.backdoorMse / feats.meanSquare };
        const trigger = target === null ? undefined
          : scoreTrigger(run.trained.model, clean, feats, applyTrigger(clean, run.poison.trigger), config, seed, state.sigma);
        const record: DetectionRecord = {
          detected: state.target!, generatorDetected: state.generatorDetected!, ...(state.scan ? { scan: state.scan } : {}),
          target, correct: target === null ? null : state.target === target,
          counts: state.targetCounts!, round, trigger, generator, seconds: (Date.now() - started) / 1000, config: reversal,
        };
        await saveJson(dir, 'detection.json', record);
        return record;
      } finally {
        disposeReversal(state);
      }
    },
    load: (dir) => loadJson<DetectionRecord>(dir, 'detection.json'),
  });
  return { ...r.value, key: r.key, cached: r.cached };
}
