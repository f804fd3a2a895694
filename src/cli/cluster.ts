/**
 * The CLI side of running the study beyond one machine: the `cell` command (one cell of a study, what each
 * Slurm job runs, also useful by hand) and `reproduce --executor slurm` / `--report-only`.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { z } from 'zod';
import { CommandSpec, ParsedArgs, UsageError } from './args';
import { Command } from './command';
import { datasetNames } from '../data/registry';
import { registeredName } from '../experiment/config';

export const cellCommand: Command = {
  spec: {
    name: 'cell',
    summary: 'run exactly one cell of a study (`cell <cell-id> --study study.json`): what each Slurm job of `reproduce --executor slurm` runs',
    options: [
      { name: 'study', type: 'string', help: 'the study as JSON (reproduce --executor slurm writes it to <runs-dir>/slurm/<hash>/study.json)' },
      { name: 'runs-dir', type: 'string', help: "artifact cache directory (default: the study file's runsDir)" },
      { name: 'require-deps', type: 'flag', help: "fail unless every dependency's cell record is visible (Slurm jobs: catches storage that is not shared)" },
      { name: 'backend', type: 'string', help: 'force a TF.js backend', choices: ['node', 'wasm', 'cpu'] },
      { name: 'engine', type: 'string', help: 'force the compute engine (default: native when its addon loaded, else wasm)', choices: ['native', 'wasm'] },
      { name: 'threads', type: 'int', help: 'native engine threads (default 1)' },
      { name: 'json', type: 'flag', help: 'print the cell summary as JSON' },
      { name: 'help', type: 'flag', help: 'show this help' },
    ],
  },
  positional: true,
  run: (a, cellId) => runCellCommand(cellId, a),
};

/** reproduce's options for the cluster; reproduce.ts adds them to its option table. */
export const clusterReproduceOptions: CommandSpec['options'] = [
  { name: 'executor', type: 'string', help: 'where cells run: worker threads here, or one Slurm job each', default: 'local', choices: ['local', 'slurm'] },
  { name: 'detach', type: 'flag', help: 'slurm: submit and exit; build the report later with --report-only' },
  { name: 'report-only', type: 'flag', help: 'build the report from the cell records in --runs-dir; run nothing' },
  { name: 'partition', type: 'string', help: 'slurm: partition (sbatch --partition)' },
  { name: 'account', type: 'string', help: 'slurm: account (sbatch --account)' },
  { name: 'qos', type: 'string', help: 'slurm: quality of service (sbatch --qos)' },
  { name: 'sbatch-args', type: 'string', help: 'slurm: more sbatch flags, space-separated, e.g. "--constraint=avx2 --exclusive"' },
  { name: 'job-prefix', type: 'string', help: 'slurm: job name prefix', default: 'ss-' },
  { name: 'mem-mb', type: 'int', help: 'slurm: memory per job in MB (default: per-cell estimate, 1024 quick / 2048–3072 full)' },
  { name: 'time-factor', type: 'number', help: "slurm: --time = factor × the cell's cost estimate + 5 min", default: 3 },
  { name: 'poll', type: 'number', help: 'slurm: seconds between squeue polls', default: 5 },
];

// The study file is written by `reproduce` but may be edited or copied by hand; unknown fields pass through
// so that fields added to StudyConfig later still reach executeCell.
const StudySchema = z.object({
  dataset: registeredName(datasetNames),
  dataDir: z.string().optional(),
  attacks: z.array(z.string()),
  defenses: z.array(z.string()),
  seeds: z.array(z.number().int().nonnegative()),
  quick: z.boolean(),
  runsDir: z.string(),
  pamRhos: z.array(z.number()),
  retune: z.boolean(),
  lmc: z.boolean(),
  qra: z.boolean(),
}).passthrough();

const sharedHint = 'with --executor slurm every job reads it from the runs directory, which must be on storage that every node ' +
  'mounts at the same path (NFS, Lustre, GPFS; see README "Running on a cluster")';

function where(): string {
  return `${os.hostname()}${process.env.SLURM_JOB_ID ? ` (Slurm job ${process.env.SLURM_JOB_ID})` : ''}`;
}

export async function runCellCommand(cellId: string | undefined, a: ParsedArgs): Promise<number> {
  const { planStudy } = await import('../experiment/study');
  const { readCellRecord, runCell } = await import('../experiment/cellRun');
  if (!cellId) throw new UsageError('cell: give the cell id first, e.g. `cell model/badnets/s0/backdoored --study study.json`');
  if (a.study === undefined) throw new UsageError('cell: --study <study.json> is required');
  const file = path.resolve(a.study as string);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`cell: cannot read the study file ${file} on ${where()}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; ${sharedHint}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Error(`cell: ${file} is not valid JSON (${(e as Error).message})`);
  }
  const parsed = StudySchema.safeParse(raw);
  if (!parsed.success) {
    throw new Error(`cell: ${file} is not a study: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  }
  const runsDir = path.resolve((a.runsDir as string | undefined) ?? parsed.data.runsDir);
  const study = { ...(parsed.data as unknown as import('../experiment/study').StudyConfig), runsDir };
  let stat: fs.Stats | undefined;
  try { stat = fs.statSync(runsDir); } catch { stat = undefined; }
  if (!stat?.isDirectory()) {
    // Not created here: a job that made its own empty cache on a node-local disk would compute everything
    // again and its results would be invisible to every other job.
    throw new Error(`cell: the runs directory ${runsDir} does not exist on ${where()}; create it, or, under Slurm, ${sharedHint}`);
  }
  try {
    fs.accessSync(runsDir, fs.constants.W_OK);
  } catch {
    throw new Error(`cell: the runs directory ${runsDir} is not writable on ${where()}`);
  }
  const cells = planStudy(study);
  const cell = cells.find((c) => c.id === cellId);
  if (!cell) {
    const near = cells.filter((c) => c.id.split('/')[0] === cellId.split('/')[0]).slice(0, 5).map((c) => c.id);
    throw new UsageError(`cell: "${cellId}" is not a cell of this study (${cells.length} cells${near.length ? `, e.g. ${near.join(', ')}` : ''})`);
  }
  if (a.requireDeps) {
    const missing = cell.deps.filter((d) => readCellRecord(study, cells.find((c) => c.id === d)!) === null);
    if (missing.length) {
      throw new Error(`cell: ${cell.id} needs ${missing.join(', ')}, whose cell record is not under ${runsDir} on ${where()}; ` +
        `Slurm started this job after those finished, so this node does not see the same runs directory: ${sharedHint}`);
    }
  }
  const { describeEngine, initEngine } = await import('../engine/backend');
  const engine = await initEngine({ backend: a.backend as string | undefined, engine: a.engine as string | undefined,
    threads: a.threads as number | undefined, quiet: true });
  console.error(describeEngine(engine));
  const t0 = Date.now();
  const summary = await runCell(study, cell, { log: (line) => console.error(line) });
  const cached = 'cached' in summary && summary.cached;
  if (a.json) console.log(JSON.stringify(summary));
  console.error(`cell ${cell.id}: ${cached ? 'loaded from the cache' : 'computed'} in ${((Date.now() - t0) / 1000).toFixed(1)}s on ${where()}`);
  return 0;
}

/** `reproduce --executor slurm` and `reproduce --report-only`, after cli.ts has turned the flags into a study. */
export async function runClusterReproduce(study: import('../experiment/study').StudyConfig, a: ParsedArgs, signal: AbortSignal): Promise<number> {
  const { reportFromRecords, reproduceOnSlurm } = await import('../report/reproduce');
  const outDir = path.resolve((a.out as string | undefined) ?? path.join('reports', new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)));
  const images = !a.noImages;
  if (a.reportOnly) {
    const t0 = Date.now();
    const r = await reportFromRecords(study, { outDir, images, seconds: 0, log: (s) => console.error(s) });
    const shown = [...r.missing.keys()].slice(0, 10);
    console.log(`report from the cache in ${((Date.now() - t0) / 1000).toFixed(1)}s: ${r.summaries.size} cells with a record, ${r.missing.size} missing` +
      `${shown.length ? ` (${shown.join(', ')}${r.missing.size > shown.length ? ', …' : ''})` : ''}`);
    console.log(`report: ${outDir}/index.html (results.md, claims.md, cells.md, figures/)`);
    return r.missing.size > 0 ? 1 : 0;
  }
  const sbatchArgs = a.sbatchArgs === undefined ? [] : String(a.sbatchArgs).split(/\s+/).filter(Boolean);
  const r = await reproduceOnSlurm(study, {
    partition: a.partition as string | undefined, account: a.account as string | undefined, qos: a.qos as string | undefined,
    sbatchArgs, jobPrefix: a.jobPrefix as string, timeFactor: a.timeFactor as number, memMb: a.memMb as number | undefined,
    backend: a.backend as string | undefined, detach: !!a.detach, pollSeconds: a.poll as number, outDir, images, signal,
  });
  if (r.detached || r.interrupted) return r.interrupted ? 130 : 0;
  for (const [cell, why] of r.missing) console.error(`missing ${cell}: ${why}`);
  console.log(`reproduce --executor slurm finished in ${r.seconds.toFixed(0)}s: ${r.submitted} jobs submitted, ${r.reused} reused, ` +
    `${r.alreadyDone} cells already in the cache; ${r.summaries.size} cells with results, ${r.missing.size} missing` +
    `${r.missing.size ? ' (rerun the same command to resubmit only those)' : ''}`);
  console.log(`report: ${outDir}/index.html (results.md, claims.md, cells.md, figures/)`);
  return r.missing.size > 0 ? 1 : 0;
}
