/**
 * BTI — BTI-DBF(U) (Xu et al., ICLR'24; spec §4.6, authors' `btidbfu.py`): invert the backdoor trigger with
 * a generator that keeps an image's benign features but moves the others (btiReversal.ts), then unlearn it:
 * fine-tune on clean batches in which int(0.2·B + 1) images are replaced by G(x) and every label stays the
 * true one, with loss CE(f(x_mix), y) + MSE(φ(x_clean), φ(x_mix)) and Adam. Rounds alternate reversal
 * (against the model as it stands) and unlearning; from round 1 on the generator is also pushed towards the
 * target class named in round 0. One Adam per network persists across rounds, as in the authors' script.
 *
 * The target. The authors name it by the class the round-0 generator's images are sent to most. On these
 * small Fashion-MNIST networks that read-off follows the natural confusions between the top-wear classes, not
 * the trigger (docs/bti-detection.md), and everything after it — the targeted rounds, hence the unlearning —
 * then works on the wrong class. So the target comes from a per-class trigger scan (targetScan.ts,
 * `targetRule: 'scan'`); the authors' read-off is still computed and recorded next to it, and
 * `targetRule: 'generator'` restores it. With the real target given (the labelled `targetGiven` comparison
 * variant) the same pipeline removed the backdoor on a tuning model where the authors' read-off had missed
 * (docs/bti-detection.md), which is what located the failure in the read-off rather than the unlearning.
 *
 * Departures from the spec for the budget (≤ 5 minutes on one core for 3,000 Fashion-MNIST images): a small
 * residual UNet generator that starts near the identity, so one pretraining epoch replaces the spec's 50
 * (btiGenerator.ts); per round 20 mask epochs, 6 generator epochs of 32-image batches at Adam 3e-3, 4
 * unlearning epochs at Adam 3e-4 (spec: 30 and 30 at 1e-3 and 1e-4, batches of 128); 3 rounds; pixel bounds
 * and detection noise converted from the authors' normalised units; no augmentation (the models are trained
 * without it); the authors' optional early stop is not implemented.
 *
 * Tuning protocol: settings are chosen on the tuning models only — seed 100, BadNets and Blended, target
 * classes 1 and 7 (src/experiment/tuning.ts, `superficial-safety tune`) — and reported on others (the study's
 * seeds 0–2 at target 0, the sweep's targets 3, 6 and 9 and other corners). The scan's settings and the
 * choice of the scan were made that way; the generator and unlearning settings above were set in earlier
 * sessions on the reporting setting (target 0, seed 0) and re-checked on the tuning models
 * (docs/tuning/bti.md). Measurements live in docs/bti-detection.md and docs/tuning/, not here.
 * `targetGiven` is a comparison variant that reads the real target and is labelled as such wherever shown.
 * Data: the clean split only; the trigger is reconstructed, never read (`data.oracle` is ignored, except by
 * `targetGiven`).
 */
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { Dataset } from '../data/dataset';
import { cloneModel, disposeModel, features, head } from '../models/model';
import { Model } from '../models/spec';
import { Rng } from '../rng';
import { Adam } from '../train/adam';
import { runEpochs } from '../train/loop';
import { crossEntropy, mse } from '../train/loss';
import { CustomLossContext, gradientStep } from '../train/step';
import {
  disposeReversal, frozenGenerator, mixedBatch, ReversalConfig, reverseRound, RoundReport, startReversal, TrainedGenerator,
} from './btiReversal';
import { DefenseData } from './types';
import { ConfigurableDefense, enumOf, fraction, int, nonNegative, positive, withSeed } from './config';

export interface BtiConfig extends ReversalConfig {
  /** Reversal + unlearning rounds (`nround` 3 in the authors' defense.sh). */
  rounds: number;
  /** Unlearning epochs per round (`ul_round` 30). */
  unlearnEpochs: number;
  /** Adam learning rate of the unlearning (spec 1e-4). */
  unlearnLr: number;
  /** Share of each batch replaced by G(x): int(share·B + 1) images (spec 0.2). */
  share: number;
  /** Weight of MSE(φ(x_clean), φ(x_mix)) in the unlearning loss (spec 1). */
  featureWeight: number;
  /**
   * For comparison only, never a defense a defender can run: use the real target (the oracle) instead of
   * the detected one. Results of this variant are labelled "target given" wherever they are shown.
   */
  targetGiven: boolean;
}

/** The oracle target for the `targetGiven` variant; the honest defense never calls this. */
export function givenTarget(c: { targetGiven: boolean }, data: DefenseData, who: string): number | undefined {
  if (!c.targetGiven) return undefined;
  if (!data.oracle) throw new Error(`${who}: targetGiven needs the real target (data.oracle), which this run does not provide`);
  return data.oracle.target;
}

/** The reversal's settings (ReversalConfig): shared by BTI, PAM and the detection stage. */
export const reversalSchema = z.object({
  batchSize: int(2).default(128),
  generatorBatchSize: int(2).default(32),
  generatorKind: enumOf(['unet', 'blend']).default('unet'),
  generatorFilters: int(1).default(8),
  generatorLevels: int(1).default(2),
  generatorNorm: enumOf(['instance', 'none']).default('none'),
  generatorCoords: z.boolean({ invalid_type_error: 'must be true or false' }).default(false),
  generatorLr: positive().default(3e-3),
  pretrainEpochs: int(0).default(1),
  pretrainNormThreshold: positive().default(0.1),
  maskEpochs: int(0).default(20),
  maskLr: positive().default(0.01),
  maskSparsity: nonNegative().default(0),
  generatorEpochs: int(0).default(6),
  normBound: positive().default(0.3),
  benignBound: positive().default(3),
  benignWeight: nonNegative().default(0.01),
  detectNoise: nonNegative().default(0.03),
  targetRule: enumOf(['generator', 'scan']).default('scan'),
  scanSteps: int(1).default(250),
  scanBatchSize: int(2).default(32),
  scanLr: positive().default(0.1),
  scanMaskWeight: positive().default(8),
  scanMinSuccess: fraction().default(0.9),
});

const schema = reversalSchema.extend({
  rounds: int(1).default(3),
  unlearnEpochs: int(1).default(4),
  unlearnLr: positive().default(3e-4),
  share: fraction().default(0.2),
  featureWeight: nonNegative().default(1),
  targetGiven: z.boolean({ invalid_type_error: 'must be true or false' }).default(false),
}).strict();

/**
 * The unlearning loss on a batch whose images were mixed with G(x) (labels kept true):
 * CE(f(x_mix), y) + w·MSE(φ(x_clean), φ(x_mix)). Both forward passes run in train mode and both fold
 * their batch statistics into the running ones, clean first, as two PyTorch forward calls would.
 */
export function unlearningLoss(featureWeight: number) {
  return ({ model: m, x, xClean, y, stats }: CustomLossContext): tf.Scalar => {
    const fClean = features(m, xClean, { training: true }, stats());
    const fMix = features(m, x, { training: true }, stats());
    const ce = crossEntropy(head(m.params, fMix), y);
    return (featureWeight > 0 ? tf.add(ce, tf.mul(mse(fClean, fMix), featureWeight)) : ce) as tf.Scalar;
  };
}

/** One round's unlearning (in place on `model`, with the Adam shared by all rounds); the last epoch's loss. */
function unlearnRound(model: Model, optimizer: Adam, data: Dataset, gen: TrainedGenerator, c: BtiConfig, rng: Rng): number {
  const { history } = runEpochs(model, data, rng, {
    epochs: c.unlearnEpochs, batchSize: c.batchSize, lr: c.unlearnLr, schedule: 'constant', progress: 'silent',
  }, {
    mapBatch: (x, _y, _idx, r) => mixedBatch(x, gen.generate, c.share, r).x,
    step: gradientStep(optimizer, { loss: unlearningLoss(c.featureWeight) }),
  });
  return history[history.length - 1].loss;
}

function describeRound(r: RoundReport): string {
  return `BTI round ${r.round}: target ${r.target}, G(x)→target ${(r.targetRate * 100).toFixed(1)}%, ` +
    `pixel MSE ${r.pixelMse.toFixed(3)}σ², benign/backdoor feature MSE ${r.benignMse.toFixed(3)}/${r.backdoorMse.toFixed(3)}, ` +
    `benign mask ${(r.benignShare * 100).toFixed(0)}%, ${r.seconds.toFixed(1)}s`;
}

export const bti: ConfigurableDefense<BtiConfig> = {
  name: 'BTI',
  assumes: 'the clean split (the trigger is reconstructed by a generator)',
  defaults: schema.parse({}),
  schema,
  async purify(input, data, config) {
    const c = withSeed(bti, config);
    const started = Date.now();
    const log = data.log ?? (() => undefined);
    const clean = data.clean;
    const model = cloneModel(input);
    const optimizer = new Adam({ lr: c.unlearnLr });
    let state: ReturnType<typeof startReversal> | undefined;
    const rounds: (RoundReport & { unlearnLoss: number; unlearnSeconds: number })[] = [];
    try {
      state = startReversal(model, clean, c, c.seed, givenTarget(c, data, 'BTI'));
      log(`BTI: generator pretrained (${c.pretrainEpochs} epochs) in ${((Date.now() - started) / 1000).toFixed(1)}s`);
      for (let n = 0; n < c.rounds; n++) {
        const report = reverseRound(model, clean, state, n, c, c.seed);
        log(describeRound(report));
        if (n === 0) {
          log(`BTI: predictions on G(x + noise) per class: ${state.targetCounts!.all.join(' ')}; ` +
            `flipped ones: ${state.targetCounts!.flipped.join(' ')}`);
          if (c.targetGiven) log(`BTI: target given (the real one, a comparison variant): ${state.target}; detected on its own: ${state.detected}`);
        }
        const ulStart = Date.now();
        const rng = Rng.derive(c.seed, `bti-unlearn-${n}`);
        const gen = frozenGenerator(state.generator);
        const loss = unlearnRound(model, optimizer, clean, gen, c, rng);
        const unlearnSeconds = (Date.now() - ulStart) / 1000;
        log(`BTI round ${n}: unlearning ${c.unlearnEpochs} epochs, loss ${loss.toFixed(4)}, ${unlearnSeconds.toFixed(1)}s`);
        rounds.push({ ...report, unlearnLoss: loss, unlearnSeconds });
      }
    } catch (e) {
      disposeModel(model);
      throw e;
    } finally {
      optimizer.dispose();
      if (state) disposeReversal(state);
    }
    const unlearned = c.rounds * c.unlearnEpochs * clean.n;
    return {
      model,
      report: {
        dataUsed: `${clean.n} clean images (the trigger is reversed from them; no triggered data)`,
        samplesSeen: unlearned,
        seconds: (Date.now() - started) / 1000,
        details: {
          detectedTarget: state?.detected,
          generatorDetected: state?.generatorDetected,
          ...(state?.scan ? { scan: state.scan } : {}),
          ...(c.targetGiven ? { targetGiven: state?.target } : {}),
          targetCounts: state?.targetCounts,
          rounds,
          generatorSamples: clean.n * (c.pretrainEpochs + c.rounds * c.generatorEpochs),
        },
      },
    };
  },
};
