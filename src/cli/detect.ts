/**
 * `detect`: BTI-DBF's target detection alone on a cached model, or a table over several targets (one model each)
 * of detected vs true.
 */
import { ParsedArgs, UsageError } from './args';
import { Command } from './command';
import { BACKDOORS, configOnly, pct, victimExperiment, victimOptions } from './common';

async function runDetect(a: ParsedArgs): Promise<number> {
  const { detectTarget } = await import('../experiment/detect');
  if (a.targets !== undefined) {
    const targets = (a.targets as string[]).map(Number);
    if (targets.some((t) => !Number.isInteger(t) || t < 0)) throw new UsageError('detect: --targets must be class numbers, e.g. 0,1,2');
    const config = configOnly(a);
    console.log('| target | detected | the generator\'s read-off | scan: real target\'s mask (px) / smallest other | seconds |');
    console.log('|---:|---:|---:|---:|---:|');
    let right = 0;
    let rightGenerator = 0;
    for (const t of targets) {
      const exp = victimExperiment(a, { target: t });
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
  const exp = victimExperiment(a);
  const r = await detectTarget(exp, { config: configOnly(a) });
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


export const detectCommand: Command = {
  spec: {
    name: 'detect',
    summary: "BTI-DBF's target detection alone (pretraining + first reversal round) on a cached model: detected vs true target (cached)",
    options: [
      { name: 'attack', type: 'string', help: 'backdoor attack of the model (none = a clean model: any detection is a false alarm)', default: 'badnets', choices: ['none', ...BACKDOORS] },
      { name: 'config', type: 'string', help: 'BTI reversal settings as JSON, e.g. \'{"generatorEpochs":8}\'' },
      { name: 'targets', type: 'list', help: 'several target classes, one model each (trained if not cached): a table of detected vs true' },
      ...victimOptions,
    ],
  },
  needsEngine: true,
  run: runDetect,
};
