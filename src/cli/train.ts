/**
 * `train` (one model) and `baseline` (BadNets, Blended and clean on the same data, optionally with figures):
 * each model trained or loaded from the cache, one table row or JSON each.
 */
import { Experiment, RunResult } from '../experiment/runner';
import { ProgressMode } from '../train/progress';
import { ParsedArgs } from './args';
import { Command } from './command';
import { BACKDOORS, commonOptions, configFrom, pct } from './common';

function row(label: string, r: RunResult): string {
  const e = r.evaluation;
  return `${label.padEnd(9)} C-Acc ${pct(e.cleanAccuracy).padStart(7)}  ASR ${pct(e.asr).padStart(7)}  ` +
    `${r.trained.cached ? 'loaded from cache' : 'trained'} in ${r.trained.seconds.toFixed(1)}s  model ${r.keys.model}`;
}

async function runOne(a: ParsedArgs, attack: string): Promise<RunResult> {
  const exp = new Experiment(configFrom(a, attack), { progress: a.progress as ProgressMode });
  return exp.run();
}

async function renderBaselineFigures(results: RunResult[], outDir: string): Promise<string[]> {
  const { baselineBars, triggerGrid } = await import('../viz/baselineFigures');
  const { renderFigures } = await import('../viz/export');
  const { FASHION_MNIST_CLASS_NAMES } = await import('../data/fashionMnist');
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

async function runModels(a: ParsedArgs, attacks: string[]): Promise<number> {
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

export const trainCommand: Command = {
  spec: {
    name: 'train',
    summary: 'train (or load from the cache) one model and print C-Acc, ASR and time',
    options: [{ name: 'attack', type: 'string', help: 'backdoor attack (none = clean model)', default: 'badnets', choices: ['none', ...BACKDOORS] }, ...commonOptions],
  },
  provisionsData: true,
  needsEngine: true,
  run: (a) => runModels(a, [a.attack as string]),
};

export const baselineCommand: Command = {
  spec: {
    name: 'baseline',
    summary: 'the main job: BadNets, Blended and clean models on the same data, as one table',
    options: [...commonOptions, { name: 'figures', type: 'string', help: 'also render the result figures (PNG + SVG) into this directory' }],
  },
  provisionsData: true,
  needsEngine: true,
  run: (a) => runModels(a, ['badnets', 'blended', 'none']),
};
