/**
 * `reproduce`: the whole study on worker threads (or Slurm jobs, see cluster.ts), or a settings sweep, then the
 * report. Ctrl-C stops the workers; finished cells stay in the cache.
 */
import { DEFAULT_STUDY_ATTACKS, QUICK_STUDY_ATTACKS, StudyConfig, studyAttacks } from '../experiment/study';
import { ParsedArgs, UsageError } from './args';
import { clusterReproduceOptions, runClusterReproduce } from './cluster';
import { Command } from './command';
import { BACKDOORS, DATASETS } from './common';

async function runReproduce(a: ParsedArgs): Promise<number> {
  const { reproduce } = await import('../report/reproduce');
  const { defenseNames, getDefense } = await import('../defenses/registry');
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
      const { readSweep, sweepStudies } = await import('../experiment/sweep');
      const { reproduceSweep } = await import('../report/reproduce');
      const sweep = readSweep(a.sweep as string);
      r = await reproduceSweep(sweep, sweepStudies(sweep, { runsDir: a.runsDir as string, dataDir: a.dataDir as string | undefined, quick: !!a.quick }), runOpts);
    } else {
      if (a.executor === 'slurm' || a.reportOnly) return await runClusterReproduce(study, a, controller.signal);
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

export const reproduceCommand: Command = {
  spec: {
    name: 'reproduce',
    summary: 'the whole study (models → defenses → RA, LMC, QRA) on worker threads, then a report under reports/<run>/',
    options: [
      { name: 'quick', type: 'flag', help: 'shrunk data, epochs and QRA: the whole graph in a few minutes (CI)' },
      { name: 'attacks', type: 'list', help: `attacks, comma-separated, of ${BACKDOORS.join(', ')} (default: ${DEFAULT_STUDY_ATTACKS.join(',')}, the paper's four; with --quick: ${QUICK_STUDY_ATTACKS.join(',')})` },
      { name: 'defenses', type: 'list', help: 'defenses, comma-separated (default: every registered one)' },
      { name: 'seeds', type: 'list', help: 'seeds, comma-separated; more than one gives mean ± std', default: '0' },
      { name: 'pam-rhos', type: 'list', help: 'PAM ablation: extra ρ values, each purified and retuned (e.g. 0,0.3,0.7,0.9)' },
      { name: 'sweep', type: 'string', help: 'a settings sweep file (e.g. sweeps/claim4.json): the study once per setting, and claim 4 across them' },
      { name: 'dataset', type: 'string', help: 'dataset', default: 'fashion-mnist', choices: DATASETS },
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
  provisionsData: true,
  run: runReproduce,
};
