#!/usr/bin/env node
/**
 * Command-line entry point: `superficial-safety <command> [options]`.
 */
import { CommandSpec, formatHelp, parseArgs, ParsedArgs, UsageError } from './cli/args';
import { cellCommand, clusterReproduceOptions } from './cli/cluster';
import { runTune, tuneCommand } from './cli/tune';
import { ensureFashionMnist, provisionFashionMnist } from './data/provision';
import { describeEngine, initEngine } from './engine/backend';
import { nativeStats } from './engine/native';
import { PATCH_POSITIONS } from './attacks/badnets';
import { attackNames, attackSpecs } from './attacks/registry';
import { ConfigError, PartialConfigInput } from './experiment/config';
import { purify } from './experiment/purify';
import { Experiment, RunResult } from './experiment/runner';
import { DefenseConfigError } from './defenses/config';
import { defenseNames } from './defenses/registry';
import { ProgressMode } from './train/progress';
import { DEFAULT_STUDY_ATTACKS, QUICK_STUDY_ATTACKS, StudyConfig, studyAttacks } from './experiment/study';

/** Attacks that backdoor a model (every registered attack; `none` is the clean model). */
const BACKDOORS = attackNames();
/** Attacks whose settings are a section of their own, which --attack-config fills. */
const WITH_SECTION = attackSpecs().filter((s) => s.placement !== 'top-level').map((s) => s.name);
const orList = (xs: string[]) => (xs.length > 1 ? `${xs.slice(0, -1).join(', ')} and ${xs[xs.length - 1]}` : xs.join(''));

const common = [
  { name: 'dataset', type: 'string', help: 'dataset', default: 'fashion-mnist', choices: ['fashion-mnist', 'mnist', 'cifar10', 'synthetic'] },
  { name: 'data-dir', type: 'string', help: 'directory holding the dataset files (else the standard places)' },
  { name: 'model', type: 'string', help: 'architecture', default: 'cnn', choices: ['cnn', 'preact-resnet', 'resnet18'] },
  { name: 'widths', type: 'list', help: 'channels per stage, comma-separated (architecture default if absent)' },
  { name: 'depth', type: 'list', help: 'preact-resnet / resnet18 blocks per stage, comma-separated' },
  { name: 'target', type: 'int', help: 'target class of the backdoor', default: 0 },
  { name: 'poison-rate', type: 'number', help: 'fraction of the training set poisoned (default 0.05; 0.1 for lc)' },
  { name: 'patch-size', type: 'int', help: 'BadNets patch side in pixels', default: 3 },
  { name: 'patch-position', type: 'string', help: 'BadNets patch corner', default: 'bottom-right', choices: [...PATCH_POSITIONS] },
  { name: 'blend-alpha', type: 'number', help: 'Blended trigger weight', default: 0.2 },
  { name: 'blend-pattern', type: 'string', help: 'PNG/PNM image to blend (seeded noise if absent)' },
  { name: 'attack-config', type: 'string', help: `settings of a ${WITH_SECTION.join('/')} attack as JSON, e.g. '{"delta":30}'` },
  { name: 'epochs', type: 'int', help: 'training epochs (config default if absent)' },
  { name: 'lr', type: 'number', help: 'initial learning rate (config default if absent)' },
  { name: 'batch-size', type: 'int', help: 'batch size (config default if absent)' },
  { name: 'seed', type: 'int', help: 'seed for splits, poisoning, init and shuffling', default: 0 },
  { name: 'runs-dir', type: 'string', help: 'artifact cache directory', default: 'runs' },
  { name: 'backend', type: 'string', help: 'force a TF.js backend (else tfjs-node if installed, then wasm)', choices: ['node', 'wasm', 'cpu'] },
  { name: 'engine', type: 'string', help: 'force the compute engine (default: native when its addon loaded, else wasm; env SUPERFICIAL_SAFETY_ENGINE)', choices: ['native', 'wasm'] },
  { name: 'threads', type: 'int', help: 'native engine threads (default 1; env SUPERFICIAL_SAFETY_THREADS)' },
  { name: 'width', type: 'number', help: 'resnet18 channel multiplier (0.25 = 16-32-64-128)' },
  { name: 'progress', type: 'string', help: 'progress display', default: 'auto', choices: ['auto', 'bar', 'lines', 'silent'] },
  { name: 'json', type: 'flag', help: 'print the result as JSON instead of a table row' },
  { name: 'help', type: 'flag', help: 'show this help' },
] satisfies CommandSpec['options'];

const commands: Record<string, CommandSpec> = {
  train: {
    name: 'train',
    summary: 'train (or load from the cache) one model and print C-Acc, ASR and time',
    options: [{ name: 'attack', type: 'string', help: 'backdoor attack (none = clean model)', default: 'badnets', choices: ['none', ...BACKDOORS] }, ...common],
  },
  baseline: {
    name: 'baseline',
    summary: 'the main job: BadNets, Blended and clean models on the same data, as one table',
    options: [...common, { name: 'figures', type: 'string', help: 'also render the result figures (PNG + SVG) into this directory' }],
  },
  purify: {
    name: 'purify',
    summary: 'purify a cached backdoored model with one defense (cached) and print C-Acc/ASR before → after',
    options: [
      { name: 'attack', type: 'string', help: 'backdoor attack of the model to purify', default: 'badnets', choices: BACKDOORS },
      { name: 'defense', type: 'string', help: 'purification defense', default: 'fst', choices: defenseNames().map((n) => n.toLowerCase()) },
      { name: 'epochs', type: 'int', help: "the defense's epochs (its default if absent)" },
      { name: 'lr', type: 'number', help: "the defense's learning rate (its default if absent)" },
      { name: 'batch-size', type: 'int', help: "the defense's batch size (its default if absent)" },
      { name: 'config', type: 'string', help: 'more defense settings as JSON, e.g. \'{"alpha":0.1}\'' },
      // The victim's training options keep their defaults here, so the cached backdoored model is found.
      ...common.filter((o) => !['epochs', 'lr', 'batch-size'].includes(o.name)),
    ],
  },
  retune: {
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
      ...common.filter((o) => !['epochs', 'lr', 'batch-size'].includes(o.name)),
    ],
  },
  lmc: {
    name: 'lmc',
    summary: 'metrics along the straight line from a purified model to the backdoored (or its retuned) model (cached)',
    options: [
      { name: 'attack', type: 'string', help: 'backdoor attack', default: 'badnets', choices: BACKDOORS },
      { name: 'defense', type: 'string', help: 'defense whose purified model starts the path, or clean', default: 'fst' },
      { name: 'endpoint', type: 'string', help: 'far end of the path', default: 'backdoored', choices: ['backdoored', 'retuned'] },
      { name: 'bn', type: 'string', help: 'batch-norm statistics along the path', default: 'interpolate', choices: ['interpolate', 'recompute'] },
      { name: 'points', type: 'int', help: 'number of evenly spaced t in [0, 1]', default: 21 },
      ...common.filter((o) => !['epochs', 'lr', 'batch-size'].includes(o.name)),
    ],
  },
  qra: {
    name: 'qra',
    summary: 'query-based reactivation against a purified model: ASR with δ on purified, clean and backdoored models (cached)',
    options: [
      { name: 'attack', type: 'string', help: 'backdoor attack', default: 'badnets', choices: BACKDOORS },
      { name: 'defense', type: 'string', help: 'defense whose purified model is attacked', default: 'fst' },
      { name: 'query-only', type: 'flag', help: 'reach the purified model only through its output probabilities (NES)' },
      { name: 'qra-epochs', type: 'int', help: 'generator training epochs', default: 50 },
      { name: 'epsilon', type: 'number', help: 'L∞ bound of δ in [0, 1] pixel units', default: 16 / 255 },
      ...common.filter((o) => !['epochs', 'lr', 'batch-size'].includes(o.name)),
    ],
  },
  bec: {
    name: 'bec',
    summary: 'backdoor existence coefficient of one model: CKA of its backdoor-neuron activations with the backdoored model\'s, 1 = backdoored, 0 = clean (cached)',
    options: [
      { name: 'attack', type: 'string', help: 'backdoor attack', default: 'badnets', choices: BACKDOORS },
      { name: 'defense', type: 'string', help: 'defense whose purified model is measured, or backdoored / clean', default: 'fst' },
      { name: 'retuned', type: 'flag', help: 'measure that model after the retuning attack (the cached retune stage)' },
      { name: 'top-fraction', type: 'number', help: 'share of each layer\'s channels taken as backdoor neurons (by trigger-activated change)', default: 0.1 },
      { name: 'config', type: 'string', help: 'settings of the defense whose model is measured, as JSON' },
      ...common.filter((o) => !['epochs', 'lr', 'batch-size'].includes(o.name)),
    ],
  },
  detect: {
    name: 'detect',
    summary: "BTI-DBF's target detection alone (pretraining + first reversal round) on a cached model: detected vs true target (cached)",
    options: [
      { name: 'attack', type: 'string', help: 'backdoor attack of the model (none = a clean model: any detection is a false alarm)', default: 'badnets', choices: ['none', ...BACKDOORS] },
      { name: 'config', type: 'string', help: 'BTI reversal settings as JSON, e.g. \'{"generatorEpochs":8}\'' },
      { name: 'targets', type: 'list', help: 'several target classes, one model each (trained if not cached): a table of detected vs true' },
      ...common.filter((o) => !['epochs', 'lr', 'batch-size'].includes(o.name)),
    ],
  },
  reproduce: {
    name: 'reproduce',
    summary: 'the whole study (models → defenses → RA, LMC, QRA) on worker threads, then a report under reports/<run>/',
    options: [
      { name: 'quick', type: 'flag', help: 'shrunk data, epochs and QRA: the whole graph in a few minutes (CI)' },
      { name: 'attacks', type: 'list', help: `attacks, comma-separated, of ${BACKDOORS.join(', ')} (default: ${DEFAULT_STUDY_ATTACKS.join(',')}, the paper's four; with --quick: ${QUICK_STUDY_ATTACKS.join(',')})` },
      { name: 'defenses', type: 'list', help: 'defenses, comma-separated (default: every registered one)' },
      { name: 'seeds', type: 'list', help: 'seeds, comma-separated; more than one gives mean ± std', default: '0' },
      { name: 'pam-rhos', type: 'list', help: 'PAM ablation: extra ρ values, each purified and retuned (e.g. 0,0.3,0.7,0.9)' },
      { name: 'sweep', type: 'string', help: 'a settings sweep file (e.g. sweeps/claim4.json): the study once per setting, and claim 4 across them' },
      { name: 'dataset', type: 'string', help: 'dataset', default: 'fashion-mnist', choices: ['fashion-mnist', 'mnist', 'cifar10', 'synthetic'] },
      { name: 'data-dir', type: 'string', help: 'directory holding the dataset files (else the standard places)' },
      { name: 'workers', type: 'int', help: 'worker threads (default: one per core; 0 = run in this thread)' },
      { name: 'no-qra', type: 'flag', help: 'skip QRA and its transfer matrix' },
      { name: 'no-lmc', type: 'flag', help: 'skip the LMC paths' },
      { name: 'no-bec', type: 'flag', help: 'skip the backdoor existence coefficients' },
      { name: 'no-images', type: 'flag', help: 'write figures as HTML only (no chromium needed)' },
      { name: 'out', type: 'string', help: 'report directory (default reports/<timestamp>)' },
      { name: 'runs-dir', type: 'string', help: 'artifact cache directory', default: 'runs' },
      { name: 'backend', type: 'string', help: 'force a TF.js backend in the workers', choices: ['node', 'wasm', 'cpu'] },
      { name: 'engine', type: 'string', help: 'force the compute engine in the workers (default: native when its addon loaded, else wasm)', choices: ['native', 'wasm'] },
      { name: 'threads', type: 'int', help: 'native threads per worker (default 1: one cell per core)' },
      ...clusterReproduceOptions,
      { name: 'help', type: 'flag', help: 'show this help' },
    ],
  },
  cell: cellCommand,
  tune: tuneCommand,
  data: {
    name: 'data',
    summary: 'make Fashion-MNIST available (Debian package when root, else download) and say what was done',
    options: [{ name: 'help', type: 'flag', help: 'show this help' }],
  },
};

function configFrom(a: ParsedArgs, attack: string): PartialConfigInput {
  const num = (v: unknown) => (v === undefined ? undefined : Number(v));
  const list = (v: unknown) => (v === undefined ? undefined : (v as string[]).map(Number));
  const train: Record<string, unknown> = {};
  if (a.epochs !== undefined) train.epochs = a.epochs;
  if (a.lr !== undefined) train.lr = a.lr;
  if (a.batchSize !== undefined) train.batchSize = a.batchSize;
  let section: Record<string, unknown> = {};
  if (a.attackConfig !== undefined) {
    try {
      section = JSON.parse(a.attackConfig as string);
    } catch (e) {
      throw new UsageError(`--attack-config must be JSON, e.g. '{"delta":30}' (${(e as Error).message})`);
    }
    if (!WITH_SECTION.includes(attack)) throw new UsageError(`--attack-config applies to ${orList(WITH_SECTION)}, not ${attack}`);
  }
  return {
    dataset: a.dataset as 'fashion-mnist',
    dataDir: a.dataDir as string | undefined,
    model: { arch: a.model as 'cnn', widths: list(a.widths), depth: list(a.depth), ...(a.width !== undefined ? { width: num(a.width) } : {}) },
    attack: {
      name: attack as 'badnets', target: num(a.target), poisonRate: num(a.poisonRate), patchSize: num(a.patchSize),
      patchPosition: a.patchPosition as 'bottom-right',
      blendAlpha: num(a.blendAlpha), blendPattern: a.blendPattern as string | undefined,
      ...(a.attackConfig !== undefined ? { [attack]: section } : {}),
    },
    train,
    seed: num(a.seed),
    runsDir: a.runsDir as string,
  };
}

const pct = (x: number) => (Number.isFinite(x) ? `${(x * 100).toFixed(2)}%` : 'n/a');

function row(label: string, r: RunResult): string {
  const e = r.evaluation;
  return `${label.padEnd(9)} C-Acc ${pct(e.cleanAccuracy).padStart(7)}  ASR ${pct(e.asr).padStart(7)}  ` +
    `${r.trained.cached ? 'loaded from cache' : 'trained'} in ${r.trained.seconds.toFixed(1)}s  model ${r.keys.model}`;
}

async function runOne(a: ParsedArgs, attack: string): Promise<RunResult> {
  const exp = new Experiment(configFrom(a, attack), { progress: a.progress as ProgressMode });
  return exp.run();
}

function defenseConfigFrom(a: ParsedArgs): Record<string, unknown> {
  let extra: Record<string, unknown> = {};
  if (a.config !== undefined) {
    try {
      extra = JSON.parse(a.config as string);
    } catch (e) {
      throw new UsageError(`purify: --config must be JSON, e.g. '{"alpha":0.1}' (${(e as Error).message})`);
    }
    if (typeof extra !== 'object' || extra === null || Array.isArray(extra)) throw new UsageError('purify: --config must be a JSON object');
  }
  const out: Record<string, unknown> = { ...extra };
  if (a.epochs !== undefined) out.epochs = a.epochs;
  if (a.lr !== undefined) out.lr = a.lr;
  if (a.batchSize !== undefined) out.batchSize = a.batchSize;
  return out;
}

async function runPurify(a: ParsedArgs): Promise<number> {
  const victim = configFrom({ ...a, epochs: undefined, lr: undefined, batchSize: undefined }, a.attack as string);
  const exp = new Experiment(victim, { progress: a.progress as ProgressMode });
  const run = await exp.run();
  const start = Date.now();
  const r = await purify(exp, a.defense as string, { config: defenseConfigFrom(a), run, progress: a.progress as ProgressMode });
  const { before, after } = r.evaluation;
  if (a.json) {
    console.log(JSON.stringify({
      attack: a.attack, defense: r.defense, config: r.config, seed: r.seed, before, after, report: r.report,
      cached: r.cached, key: r.key, modelKey: run.keys.model,
    }, null, 2));
  } else {
    console.log(`${r.defense} on ${a.attack}: C-Acc ${pct(before.cleanAccuracy)} → ${pct(after.cleanAccuracy)}  ` +
      `ASR ${pct(before.asr)} → ${pct(after.asr)}`);
    console.log(`  ${r.cached ? `loaded from cache in ${((Date.now() - start) / 1000).toFixed(1)}s; the defense took` : 'defense took'} ` +
      `${r.report.seconds.toFixed(1)}s; data: ${r.report.dataUsed}; ${r.report.samplesSeen} samples seen`);
    console.log(`  config ${JSON.stringify(r.config)} seed ${r.seed}; purified model ${r.key}`);
  }
  return 0;
}

async function runDetect(a: ParsedArgs): Promise<number> {
  const { detectTarget } = await import('./experiment/detect');
  if (a.targets !== undefined) {
    const targets = (a.targets as string[]).map(Number);
    if (targets.some((t) => !Number.isInteger(t) || t < 0)) throw new UsageError('detect: --targets must be class numbers, e.g. 0,1,2');
    const config = a.config === undefined ? undefined : defenseConfigFrom({ config: a.config } as ParsedArgs);
    console.log('| target | detected | the generator\'s read-off | scan: real target\'s mask (px) / smallest other | seconds |');
    console.log('|---:|---:|---:|---:|---:|');
    let right = 0;
    let rightGenerator = 0;
    for (const t of targets) {
      const exp = new Experiment(configFrom({ ...a, target: t, epochs: undefined, lr: undefined, batchSize: undefined }, a.attack as string),
        { progress: a.progress as ProgressMode });
      const r = await detectTarget(exp, { config, log: () => undefined });
      const g = r.generatorDetected ?? r.detected;
      if (r.detected === t) right++;
      if (g === t) rightGenerator++;
      const own = r.scan?.classes.find((c) => c.target === t);
      const other = r.scan ? Math.min(...r.scan.classes.filter((c) => c.target !== t).map((c) => c.maskL1)) : undefined;
      console.log(`| ${t} | ${r.detected} ${r.detected === t ? '✔' : '✘'} | ${g} ${g === t ? '✔' : '✘'} | ` +
        `${own && other !== undefined ? `${own.maskL1.toFixed(1)} / ${other.toFixed(1)}` : '–'} | ${r.cached ? 'cached' : r.seconds.toFixed(0)} |`);
    }
    console.log(`detected ${right} of ${targets.length}; the generator's read-off ${rightGenerator} of ${targets.length}`);
    return 0;
  }
  const victim = configFrom({ ...a, epochs: undefined, lr: undefined, batchSize: undefined }, a.attack as string);
  const exp = new Experiment(victim, { progress: a.progress as ProgressMode });
  const r = await detectTarget(exp, { config: a.config === undefined ? undefined : defenseConfigFrom({ config: a.config } as ParsedArgs) });
  if (a.json) {
    console.log(JSON.stringify(r, null, 2));
    return 0;
  }
  const verdict = r.target === null ? 'clean model: any detection is a false alarm' : r.correct ? 'correct' : `missed (true target ${r.target})`;
  console.log(`detected target ${r.detected}: ${verdict}`);
  console.log(`  the generator's read-off (the authors' rule): ${r.generatorDetected ?? r.detected}`);
  if (r.scan) {
    console.log(`  per-class scan (mask L1 in pixels / share sent to the class / anomaly index): ` +
      r.scan.classes.map((c) => `${c.target}: ${c.maskL1.toFixed(1)} / ${pct(c.success)} / ${c.anomaly.toFixed(1)}`).join(', '));
  }
  console.log(`  predictions on G(x + noise) per class: ${r.counts.all.join(' ')}; flipped: ${r.counts.flipped.join(' ')}`);
  const score = (x: { pixelMse: number; benign: number; backdoor: number }) =>
    `pixel MSE ${x.pixelMse.toFixed(3)}σ², benign/backdoor feature MSE ${x.benign.toFixed(3)}/${x.backdoor.toFixed(3)} (× features' mean square)`;
  if (r.generator) console.log(`  objective, G:            ${score(r.generator)}`);
  if (r.trigger) console.log(`  objective, real trigger: ${score(r.trigger)}`);
  console.log(`  G(x) → detected ${pct(r.round.targetRate)}; ${r.cached ? 'cached' : `${r.seconds.toFixed(1)}s`}; key ${r.key}`);
  return 0;
}

async function renderBaselineFigures(results: RunResult[], outDir: string): Promise<string[]> {
  const { baselineBars, triggerGrid } = await import('./viz/baselineFigures');
  const { renderFigures } = await import('./viz/export');
  const { FASHION_MNIST_CLASS_NAMES } = await import('./data/fashionMnist');
  const first = results[0];
  const test = first.data.test;
  const triggers = results.filter((r) => r.config.attack.name !== 'none')
    .map((r) => ({ name: r.config.attack.name, trigger: r.poison.trigger }));
  const rows = results.map((r) => ({ attack: r.config.attack.name, cleanAccuracy: r.evaluation.cleanAccuracy, asr: r.evaluation.asr }));
  const model = `${first.trained.model.spec.arch} [${first.trained.model.spec.widths}]`;
  return renderFigures([
    { name: 'baseline-cacc-asr', figure: baselineBars(rows, `${test.name}, ${model}, ${first.config.attack.poisonRate * 100}% poisoning, target ${first.config.attack.target}`) },
    { name: 'triggers', figure: triggerGrid(test, triggers, 6, first.config.dataset === 'fashion-mnist' ? FASHION_MNIST_CLASS_NAMES : undefined) },
  ], { outDir });
}

/** The finding-2/3 stages: each prints a short report of the cached stage's result. */
async function runReactivation(name: 'retune' | 'lmc' | 'qra', a: ParsedArgs): Promise<number> {
  const { retune, lmc, qra } = await import('./experiment/reactivate');
  const victim = configFrom({ ...a, epochs: undefined, lr: undefined, batchSize: undefined }, a.attack as string);
  const exp = new Experiment(victim, { progress: a.progress as ProgressMode });
  const subject = a.defense as string;
  const opts = { progress: a.progress as ProgressMode, defenseConfig: a.config === undefined ? undefined : defenseConfigFrom({ config: a.config } as ParsedArgs) };
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

async function runBec(a: ParsedArgs): Promise<number> {
  const { bec } = await import('./experiment/becStage');
  const victim = configFrom({ ...a, epochs: undefined, lr: undefined, batchSize: undefined }, a.attack as string);
  const exp = new Experiment(victim, { progress: a.progress as ProgressMode });
  const defenseConfig = a.config === undefined ? undefined : defenseConfigFrom({ config: a.config } as ParsedArgs);
  const t0 = Date.now();
  const r = await bec(exp, a.defense as string, { topFraction: a.topFraction as number },
    { progress: a.progress as ProgressMode, defenseConfig, retuned: !!a.retuned });
  const wall = (Date.now() - t0) / 1000;
  if (a.json) {
    console.log(JSON.stringify({ attack: a.attack, ...r, wallSeconds: wall }, null, 2));
    return 0;
  }
  const what = `${r.subject}${r.retuned ? ' after RA' : ''}`;
  for (const l of r.layers) console.log(`${l.layer.padEnd(22)} CKA with the backdoored model ${l.cka.toFixed(4)}`);
  console.log(`${what} on ${a.attack}: BEC ${r.bec.toFixed(4)} (similarity ${r.similarity.toFixed(4)}; clean model ${r.cleanSimilarity.toFixed(4)} = 0, backdoored 1)`);
  const ref = r.reference.cached ? 'cached' : `computed in ${r.reference.seconds.toFixed(1)}s`;
  console.log(`  ${r.cached ? 'loaded from cache' : `computed in ${r.seconds.toFixed(1)}s`}; backdoor neurons and clean anchor ${ref}; ` +
    `${wall.toFixed(1)}s in all with loading; top ${100 * r.config.topFraction}% channels; key ${r.key}`);
  return 0;
}

async function runReproduce(a: ParsedArgs): Promise<number> {
  const { reproduce } = await import('./report/reproduce');
  const { defenseNames, getDefense } = await import('./defenses/registry');
  // List options' defaults arrive as the unsplit string.
  const list = (v: unknown) => (Array.isArray(v) ? v as string[] : String(v).split(',').map((x) => x.trim()).filter(Boolean));
  const ints = (v: unknown, what: string) => list(v).map((x) => {
    const n = Number(x);
    if (!Number.isFinite(n)) throw new UsageError(`reproduce: --${what} must be numbers (got "${x}")`);
    return n;
  });
  const attacks: string[] = a.attacks === undefined ? studyAttacks(!!a.quick) : list(a.attacks);
  for (const x of attacks) {
    if (!BACKDOORS.includes(x)) throw new UsageError(`reproduce: unknown attack "${x}" (attacks: ${BACKDOORS.join(', ')})`);
  }
  const defenses = a.defenses === undefined ? defenseNames() : list(a.defenses).map((d) => {
    try { return getDefense(d).name; } catch (e) { throw new UsageError(`reproduce: ${(e as Error).message}`); }
  });
  const seeds = ints(a.seeds, 'seeds');
  if (seeds.some((s) => !Number.isInteger(s) || s < 0)) throw new UsageError('reproduce: --seeds must be non-negative integers');
  const pamRhos = a.pamRhos === undefined ? [] : ints(a.pamRhos, 'pam-rhos');
  if (pamRhos.some((r) => r < 0)) throw new UsageError('reproduce: --pam-rhos must be >= 0');
  const controller = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    interrupts++;
    if (interrupts > 1) process.exit(130);
    console.error('\ninterrupted: stopping the workers; finished cells are in the cache, rerun to resume (Ctrl-C again to quit now)');
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  try {
    const study: StudyConfig = {
      dataset: a.dataset as 'fashion-mnist', dataDir: a.dataDir as string | undefined, attacks,
      defenses, seeds, quick: !!a.quick, runsDir: a.runsDir as string, pamRhos, retune: true, lmc: !a.noLmc, qra: !a.noQra, bec: !a.noBec,
    };
    const runOpts = { workers: a.workers as number | undefined, outDir: a.out as string | undefined, backend: a.backend as string | undefined,
      engine: a.engine as string | undefined, threads: a.threads as number | undefined, signal: controller.signal, images: !a.noImages };
    let r;
    if (a.sweep !== undefined) {
      for (const f of ['attacks', 'defenses', 'pamRhos', 'noLmc', 'noQra', 'executor', 'reportOnly'] as const) {
        if (a[f] !== undefined && a[f] !== false && !(f === 'executor' && a[f] === 'local')) {
          throw new UsageError(`reproduce: --sweep takes attacks, defenses and analyses from the sweep file, not --${f.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`);
        }
      }
      const { readSweep, sweepStudies } = await import('./experiment/sweep');
      const { reproduceSweep } = await import('./report/reproduce');
      const sweep = readSweep(a.sweep as string);
      r = await reproduceSweep(sweep, sweepStudies(sweep, { runsDir: a.runsDir as string, dataDir: a.dataDir as string | undefined, quick: !!a.quick }), runOpts);
    } else {
      if (a.executor === 'slurm' || a.reportOnly) return await (await import('./cli/cluster')).runClusterReproduce(study, a, controller.signal);
      r = await reproduce(study, runOpts);
    }
    if (r.aborted) {
      console.error(`stopped after ${r.seconds.toFixed(0)}s: ${r.summaries.size} cells finished and cached, ${r.notStarted.length} not started`);
      return 130;
    }
    console.log(`reproduce finished in ${r.seconds.toFixed(0)}s: ${r.summaries.size} cells (${r.computed} computed, ${r.cached} from the cache), ` +
      `${r.failed.size} failed, ${r.skipped.length} skipped`);
    console.log(`report: ${r.outDir}/index.html (${a.sweep !== undefined ? 'sweep.md, settings/<name>/' : 'results.md, claims.md, figures/'})`);
    return r.failed.size > 0 ? 1 : 0;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

const MAIN_COMMANDS = new Set(['reproduce', 'baseline', 'train']);

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === 'help') {
    console.log(['superficial-safety — superficial safety of backdoor defenses, in TypeScript', '',
      'Commands:', ...Object.values(commands).map((c) => `  ${c.name.padEnd(10)} ${c.summary}`), '',
      'Run `superficial-safety <command> --help` for its options.'].join('\n'));
    return name ? 0 : 1;
  }
  const cmd = commands[name];
  if (!cmd) throw new UsageError(`unknown command "${name}" (commands: ${Object.keys(commands).join(', ')})`);
  // `cell <cell-id>` is the one command with a positional argument.
  const cellId = name === 'cell' && rest[0] !== undefined && !rest[0].startsWith('--') ? rest.shift() : undefined;
  const a = parseArgs(cmd, rest);
  if (a.help) {
    console.log(formatHelp(cmd));
    return 0;
  }
  if (name === 'data') {
    const r = await provisionFashionMnist((s) => console.log(s));
    console.log(`Fashion-MNIST: ${r.action} → ${r.dir}`);
    return 0;
  }
  if (name === 'cell') return (await import('./cli/cluster')).runCellCommand(cellId, a);
  // A fresh clone needs no separate data step: the main commands provision Fashion-MNIST as `npm run data` does.
  if (MAIN_COMMANDS.has(name) && a.dataset === 'fashion-mnist' && !a.dataDir && !a.reportOnly) await ensureFashionMnist((s) => console.error(s));
  if (name === 'reproduce') return runReproduce(a);
  const engine = await initEngine({ backend: a.backend as string | undefined, engine: a.engine as string | undefined, threads: a.threads as number | undefined });
  console.error(describeEngine(engine));
  if (name === 'purify') return runPurify(a);
  if (name === 'detect') return runDetect(a);
  if (name === 'tune') return runTune(a);
  if (name === 'bec') return runBec(a);
  if (name === 'retune' || name === 'lmc' || name === 'qra') return runReactivation(name, a);
  const attacks = name === 'train' ? [a.attack as string] : ['badnets', 'blended', 'none'];
  const results: RunResult[] = [];
  for (const attack of attacks) {
    const r = await runOne(a, attack);
    results.push(r);
    if (!a.json) console.log(row(attack === 'none' ? 'clean' : attack, r));
  }
  if (a.figures) {
    const files = await renderBaselineFigures(results, a.figures as string);
    console.error(`figures: ${files.join(', ')}`);
  }
  if (a.json) {
    console.log(JSON.stringify(results.map((r) => ({
      attack: r.config.attack.name, cleanAccuracy: r.evaluation.cleanAccuracy, asr: r.evaluation.asr,
      asrTrigger: r.evaluation.asrTrigger, seconds: r.trained.seconds, cached: r.trained.cached, keys: r.keys,
    })), null, 2));
  }
  return 0;
}

/** Ops the native engine handed to wasm kernels (another dtype, dilation, broadcasting): counted, said once. */
function reportFallbacks(): void {
  const f = nativeStats().fallbacks;
  if (Object.keys(f).length) console.error(`native engine: ${Object.entries(f).map(([k, n]) => `${k} ×${n}`).join(', ')} ran on wasm kernels (unsupported shape or dtype)`);
}

main(process.argv.slice(2)).then((code) => { reportFallbacks(); process.exitCode = code; }, (e: unknown) => {
  if (e instanceof UsageError || e instanceof ConfigError || e instanceof DefenseConfigError) {
    console.error(`error: ${e.message}`);
    process.exitCode = 2;
  } else {
    console.error(e instanceof Error ? `error: ${e.message}` : e);
    if (process.env.DEBUG && e instanceof Error) console.error(e.stack);
    process.exitCode = 1;
  }
});
