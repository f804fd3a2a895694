/** `bec`: the backdoor existence coefficient of one subject model, optionally after the retuning attack (cached). */
import { ProgressMode } from '../train/progress';
import { ParsedArgs } from './args';
import { Command } from './command';
import { BACKDOORS, configOnly, victimExperiment, victimOptions } from './common';

async function runBec(a: ParsedArgs): Promise<number> {
  const { bec } = await import('../experiment/becStage');
  const exp = victimExperiment(a);
  const t0 = Date.now();
  const r = await bec(exp, a.defense as string, { topFraction: a.topFraction as number },
    { progress: a.progress as ProgressMode, defenseConfig: configOnly(a), retuned: !!a.retuned });
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

export const becCommand: Command = {
  spec: {
    name: 'bec',
    summary: 'backdoor existence coefficient of one model: CKA of its backdoor-neuron activations with the backdoored model\'s, 1 = backdoored, 0 = clean (cached)',
    options: [
      { name: 'attack', type: 'string', help: 'backdoor attack', default: 'badnets', choices: BACKDOORS },
      { name: 'defense', type: 'string', help: 'defense whose purified model is measured, or backdoored / clean', default: 'fst' },
      { name: 'retuned', type: 'flag', help: 'measure that model after the retuning attack (the cached retune stage)' },
      { name: 'top-fraction', type: 'number', help: 'share of each layer\'s channels taken as backdoor neurons (by trigger-activated change)', default: 0.1 },
      { name: 'config', type: 'string', help: 'settings of the defense whose model is measured, as JSON' },
      ...victimOptions,
    ],
  },
  needsEngine: true,
  run: runBec,
};
