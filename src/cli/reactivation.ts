/**
 * The finding-2/3 commands, `retune`, `lmc` and `qra`: each runs (or loads) its cached stage on a subject of the
 * cached backdoored model and prints a short report.
 */
import { ProgressMode } from '../train/progress';
import { ParsedArgs, UsageError } from './args';
import { Command } from './command';
import { BACKDOORS, configOnly, pct, victimExperiment, victimOptions } from './common';

async function runReactivation(name: 'retune' | 'lmc' | 'qra', a: ParsedArgs): Promise<number> {
  const { retune, lmc, qra } = await import('../experiment/stages');
  const exp = victimExperiment(a);
  const subject = a.defense as string;
  // No `run` here, unlike purify's: the stage loads it after checking its settings, so a bad one fails before any training.
  const opts = { progress: a.progress as ProgressMode, defenseConfig: configOnly(a) };
  if (name === 'retune') {
    const r = await retune(exp, subject, { poisonedCount: a.poisoned as number, setSize: a.setSize as number, epochs: a.raEpochs as number, lr: a.raLr as number }, opts);
    for (const h of r.history) console.log(`${r.subject} RA epoch ${h.epoch}: C-Acc ${pct(h.cleanAccuracy)}  ASR ${pct(h.asr)}`);
    console.log(`O-ASR ${pct(r.history[0].asr)} → P-ASR ${pct(r.history[r.history.length - 1].asr)} (${r.cached ? 'cached' : `${r.seconds.toFixed(1)}s`}, key ${r.key})`);
  } else if (name === 'lmc') {
    const n = a.points as number;
    if (!(n >= 2)) throw new UsageError('lmc: --points must be at least 2');
    const ts = Array.from({ length: n }, (_, i) => Math.round((i / (n - 1)) * 1e6) / 1e6);
    const r = await lmc(exp, subject, { ts, endpoint: a.endpoint as 'backdoored', batchNorm: a.bn as 'interpolate' }, opts);
    for (const p of r.points) console.log(`t ${p.t.toFixed(2)}  C-Acc ${pct(p.cleanAccuracy)}  ASR ${pct(p.asr)}  backdoor error ${pct(1 - p.asr)}`);
    console.log(`first t with ASR > 50%: ${r.summary.tAsrAbove50 ?? 'never'}; backdoor-error area ${r.summary.backdoorErrorArea.toFixed(3)}; ` +
      `‖θ_a − θ_b‖ ${r.summary.distance.toFixed(3)} (${r.cached ? 'cached' : `${r.seconds.toFixed(1)}s`})`);
  } else {
    const r = await qra(exp, subject, { queryOnly: !!a.queryOnly, epochs: a.qraEpochs as number, epsilon: a.epsilon as number }, opts);
    const e = r.evaluation;
    for (const m of Object.keys(e.asrPerturbed)) {
      console.log(`${m.padEnd(10)} ASR trigger only ${pct(e.asrTriggerOnly[m])}  with δ ${pct(e.asrPerturbed[m])}  C-Acc with δ ${pct(e.cleanAccuracyPerturbed[m])}`);
    }
    console.log(`${r.queries.toLocaleString()} queries to the purified model (${r.cached ? 'cached' : `${r.seconds.toFixed(1)}s`})`);
  }
  return 0;
}

export const retuneCommand: Command = {
  spec: {
    name: 'retune',
    summary: 'the retuning attack on a purified (or the backdoored/clean) model: C-Acc and ASR per RA epoch (cached)',
    options: [
      { name: 'attack', type: 'string', help: 'backdoor attack', default: 'badnets', choices: BACKDOORS },
      { name: 'defense', type: 'string', help: 'defense whose purified model is attacked, or backdoored / clean', default: 'fst' },
      { name: 'poisoned', type: 'int', help: 'poisoned samples in the attacker\'s set', default: 5 },
      { name: 'set-size', type: 'int', help: 'size of the attacker\'s set', default: 1000 },
      { name: 'ra-epochs', type: 'int', help: 'RA epochs', default: 5 },
      { name: 'ra-lr', type: 'number', help: 'RA learning rate', default: 0.01 },
      { name: 'config', type: 'string', help: 'settings of the defense whose model is retuned, as JSON, e.g. \'{"share":0.1}\'' },
      ...victimOptions,
    ],
  },
  needsEngine: true,
  run: (a) => runReactivation('retune', a),
};

export const lmcCommand: Command = {
  spec: {
    name: 'lmc',
    summary: 'metrics along the straight line from a purified model to the backdoored (or its retuned) model (cached)',
    options: [
      { name: 'attack', type: 'string', help: 'backdoor attack', default: 'badnets', choices: BACKDOORS },
      { name: 'defense', type: 'string', help: 'defense whose purified model starts the path, or clean', default: 'fst' },
      { name: 'endpoint', type: 'string', help: 'far end of the path', default: 'backdoored', choices: ['backdoored', 'retuned'] },
      { name: 'bn', type: 'string', help: 'batch-norm statistics along the path', default: 'interpolate', choices: ['interpolate', 'recompute'] },
      { name: 'points', type: 'int', help: 'number of evenly spaced t in [0, 1]', default: 21 },
      ...victimOptions,
    ],
  },
  needsEngine: true,
  run: (a) => runReactivation('lmc', a),
};

export const qraCommand: Command = {
  spec: {
    name: 'qra',
    summary: 'query-based reactivation against a purified model: ASR with δ on purified, clean and backdoored models (cached)',
    options: [
      { name: 'attack', type: 'string', help: 'backdoor attack', default: 'badnets', choices: BACKDOORS },
      { name: 'defense', type: 'string', help: 'defense whose purified model is attacked', default: 'fst' },
      { name: 'query-only', type: 'flag', help: 'reach the purified model only through its output probabilities (NES)' },
      { name: 'qra-epochs', type: 'int', help: 'generator training epochs', default: 50 },
      { name: 'epsilon', type: 'number', help: 'L∞ bound of δ in [0, 1] pixel units', default: 16 / 255 },
      ...victimOptions,
    ],
  },
  needsEngine: true,
  run: (a) => runReactivation('qra', a),
};
