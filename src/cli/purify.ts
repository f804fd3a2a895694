/** `purify`: one defense on a cached backdoored model (cached in turn), C-Acc and ASR before → after. */
import { purify } from '../experiment/purify';
import { defenseNames } from '../defenses/registry';
import { ProgressMode } from '../train/progress';
import { ParsedArgs } from './args';
import { Command } from './command';
import { BACKDOORS, defenseConfigFrom, pct, victimExperiment, victimOptions } from './common';

async function runPurify(a: ParsedArgs): Promise<number> {
  const exp = victimExperiment(a);
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

export const purifyCommand: Command = {
  spec: {
    name: 'purify',
    summary: 'purify a cached backdoored model with one defense (cached) and print C-Acc/ASR before → after',
    options: [
      { name: 'attack', type: 'string', help: 'backdoor attack of the model to purify', default: 'badnets', choices: BACKDOORS },
      { name: 'defense', type: 'string', help: 'purification defense', default: 'fst', choices: defenseNames().map((n) => n.toLowerCase()) },
      { name: 'epochs', type: 'int', help: "the defense's epochs (its default if absent)" },
      { name: 'lr', type: 'number', help: "the defense's learning rate (its default if absent)" },
      { name: 'batch-size', type: 'int', help: "the defense's batch size (its default if absent)" },
      { name: 'config', type: 'string', help: 'more defense settings as JSON, e.g. \'{"alpha":0.1}\'' },
      ...victimOptions,
    ],
  },
  needsEngine: true,
  run: runPurify,
};
