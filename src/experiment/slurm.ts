/**
 * `reproduce --executor slurm`: the study graph handed to Slurm. Each cell not yet in the cache becomes one
 * `sbatch` job running `superficial-safety cell <id>`, chained with `--dependency=afterok` and
 * `--kill-on-invalid-dep=yes`, so Slurm (not this process) decides what runs where and when, and a failed
 * or cancelled job takes down exactly its dependants. Jobs share nothing but the runs directory, which must
 * be on storage every node sees; the cache's atomic renames make concurrent writers safe, and each job
 * leaves a cell record (cellRun.ts) from which the caller, or a later `--report-only`, builds the report.
 *
 * This process only submits and, unless detached, polls `squeue` (Slurm keeps finished jobs there for
 * MinJobAge) and the cell records; `sacct` is used when the cluster has accounting storage.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { getAttack } from '../attacks/registry';
import { CellRecord, readCellRecord } from './cellRun';
import { contentHash } from '../io/hash';
import { writeJsonAtomic } from '../io/json';
import { Cell, CellSummary, planStudy, StudyConfig } from './study';

export interface ExecResult { code: number; stdout: string; stderr: string }
/** Runs a Slurm client command; injected by tests, which have no Slurm. */
export type Exec = (cmd: string, args: string[]) => Promise<ExecResult>;

export const execCommand: Exec = (cmd, args) => new Promise((resolve, reject) => {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  child.on('error', (e: NodeJS.ErrnoException) => reject(e.code === 'ENOENT'
    ? new Error(`${cmd} not found: --executor slurm must run on a Slurm submit host (apt-get install slurm-client, or scripts/slurm/cluster.sh start for a local one)`)
    : e));
  child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
});

export interface SlurmOptions {
  partition?: string;
  account?: string;
  qos?: string;
  /** More sbatch flags, passed as they are (e.g. ['--constraint=avx2']). */
  sbatchArgs?: string[];
  /** Prefix of every job name (default "ss-"), so `squeue -n`/`scancel -n` can pick a study's jobs. */
  jobPrefix?: string;
  /** --time = this × the cell's cost estimate + 5 minutes (default 3). */
  timeFactor?: number;
  /** Memory per job in MB instead of the per-kind estimate. */
  memMb?: number;
  backend?: string;
  /** Submit and return; `reproduce --report-only` builds the report later. */
  detach?: boolean;
  pollSeconds?: number;
  /** How long a job that ended COMPLETED may take for its record to become visible here (default 90 s). */
  recordGraceSeconds?: number;
  outDir: string;
  images?: boolean;
  write?: (s: string) => void;
  signal?: AbortSignal;
  exec?: Exec;
  /** The node binary and dist/cli.js that jobs run; default this process's. Both must exist on every node. */
  node?: string;
  cli?: string;
}

export interface JobResources { minutes: number; cpus: number; memMb: number }

/**
 * Resources of one cell's job. Every cell runs one TF.js wasm thread, so one CPU. The time limit scales the
 * cell's single-core cost estimate (measured on a 2-core laptop-class machine) with headroom for slower
 * nodes, node start-up and loading data; memory follows the measured peaks (one full-data cell stays under
 * 1 GB resident; LC's and SSBA's models and the transfer matrix hold more models at once), with a floor.
 */
export function jobResources(study: StudyConfig, cell: Cell, opts: Pick<SlurmOptions, 'timeFactor' | 'memMb'> = {}): JobResources {
  const factor = opts.timeFactor ?? 3;
  if (!(factor > 0)) throw new Error(`--time-factor must be a positive number (got ${factor})`);
  if (opts.memMb !== undefined && !(Number.isInteger(opts.memMb) && opts.memMb >= 256)) {
    throw new Error(`--mem-mb must be an integer of at least 256 (got ${opts.memMb})`);
  }
  // The floor absorbs a slow or shared node; a cell far beyond its estimate is a bug worth seeing as a timeout.
  const minutes = Math.max(10, Math.ceil((cell.cost * factor + 300) / 60));
  // A model cell whose attack trains an asset first holds that network besides the model.
  const heavy = cell.kind === 'transfer' || (cell.kind === 'model' && cell.attack !== 'none' && getAttack(cell.attack).assets !== undefined);
  const estimate = study.quick ? 1024 : heavy ? 3072 : 2048;
  return { minutes, cpus: 1, memMb: opts.memMb ?? Math.max(1024, estimate) };
}

const safeName = (s: string) => s.replace(/[^A-Za-z0-9._@=-]/g, '.');
const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export interface JobPaths { studyFile: string; runsDir: string; logDir: string; node: string; cli: string }

/** The sbatch command line of one cell (pure, so the tests can check every flag). */
export function sbatchArgs(cell: Cell, res: JobResources, depJobs: string[], paths: JobPaths,
  opts: Pick<SlurmOptions, 'partition' | 'account' | 'qos' | 'sbatchArgs' | 'jobPrefix' | 'backend'> = {}): string[] {
  const command = [paths.node, paths.cli, 'cell', cell.id, '--study', paths.studyFile, '--runs-dir', paths.runsDir, '--require-deps',
    ...(opts.backend ? ['--backend', opts.backend] : [])];
  return [
    '--parsable',
    `--job-name=${opts.jobPrefix ?? 'ss-'}${safeName(cell.id)}`,
    `--time=${res.minutes}`,
    '--nodes=1', '--ntasks=1',
    `--cpus-per-task=${res.cpus}`,
    `--mem=${res.memMb}M`,
    // A node failure puts the job back in the queue; a rerun of a cell finds its finished artifacts.
    '--requeue',
    '--kill-on-invalid-dep=yes',
    ...(depJobs.length ? [`--dependency=afterok:${depJobs.join(':')}`] : []),
    `--output=${path.join(paths.logDir, `${safeName(cell.id)}.%j.out`)}`,
    '--open-mode=append',
    ...(opts.partition ? [`--partition=${opts.partition}`] : []),
    ...(opts.account ? [`--account=${opts.account}`] : []),
    ...(opts.qos ? [`--qos=${opts.qos}`] : []),
    ...(opts.sbatchArgs ?? []),
    `--wrap=exec ${command.map(quote).join(' ')}`,
  ];
}

/** Per-study directory on the shared storage: study.json (what jobs read), jobs.json, job logs. */
export function studyDir(study: StudyConfig): string {
  const { runsDir: _r, ...rest } = study;
  return path.join(path.resolve(study.runsDir), 'slurm', contentHash(rest).slice(0, 16));
}

const ACTIVE = new Set(['PENDING', 'RUNNING', 'CONFIGURING', 'COMPLETING', 'REQUEUED', 'REQUEUE_HOLD', 'REQUEUE_FED', 'RESIZING', 'SUSPENDED', 'STAGE_OUT', 'SIGNALING', 'RESV_DEL_HOLD', 'STOPPED']);

export interface JobState { id: string; state: string; node: string; reason: string }

/** States of the given jobs from squeue (finished ones too, while Slurm still lists them). */
export async function queryJobs(exec: Exec, ids: string[]): Promise<Map<string, JobState>> {
  const out = new Map<string, JobState>();
  for (let i = 0; i < ids.length; i += 500) {
    const r = await exec('squeue', ['-h', '--states=all', `--jobs=${ids.slice(i, i + 500).join(',')}`, '-o', '%i|%T|%N|%r']);
    // squeue exits non-zero when none of the ids is known any more; that is an answer, not an error.
    if (r.code !== 0 && !/Invalid job id/i.test(r.stderr)) throw new Error(`squeue failed (exit ${r.code}): ${r.stderr.trim()}`);
    for (const line of r.stdout.split('\n')) {
      const [id, state, node, reason] = line.trim().split('|');
      if (id && state) out.set(id, { id, state: state.split(' ')[0], node: node ?? '', reason: reason ?? '' });
    }
  }
  return out;
}

/** Final states of jobs Slurm no longer lists, from sacct; null when the cluster keeps no accounting. */
async function sacctStates(exec: Exec, ids: string[]): Promise<Map<string, JobState> | null> {
  if (ids.length === 0) return new Map();
  const r = await exec('sacct', ['-n', '-X', '-P', `--jobs=${ids.join(',')}`, '-o', 'JobID,State,NodeList']);
  if (r.code !== 0) return null;
  const out = new Map<string, JobState>();
  for (const line of r.stdout.split('\n')) {
    const [id, state, node] = line.trim().split('|');
    if (id && state) out.set(id, { id, state: state.split(' ')[0], node: node ?? '', reason: '' });
  }
  return out;
}

export interface Submission {
  dir: string;
  studyFile: string;
  /** Cell id → job id, for every cell not finished before this call. */
  jobs: Map<string, string>;
  submitted: string[];
  /** Cells whose job from an earlier submission is still queued or running: not submitted again. */
  reused: string[];
  /** Cells with a record already (in the cache): not submitted. */
  done: string[];
  cells: Cell[];
}

/** Submit every cell that is neither in the cache nor already queued; dependencies come from the graph. */
export async function submitStudy(study: StudyConfig, opts: SlurmOptions): Promise<Submission> {
  const exec = opts.exec ?? execCommand;
  const runsDir = path.resolve(study.runsDir);
  const shared: StudyConfig = { ...study, runsDir };
  const cells = planStudy(shared);
  const node = opts.node ?? process.execPath;
  const cli = opts.cli ?? path.resolve(__dirname, '..', 'cli.js');
  if (!fs.existsSync(cli)) throw new Error(`${cli} is missing; run \`npm run build\` (jobs run the compiled CLI)`);
  const dir = studyDir(shared);
  const logDir = path.join(dir, 'logs');
  fs.mkdirSync(logDir, { recursive: true });
  const studyFile = path.join(dir, 'study.json');
  await writeJsonAtomic(studyFile, shared);

  const done = cells.filter((c) => readCellRecord(shared, c) !== null).map((c) => c.id);
  const doneSet = new Set(done);
  // Jobs of an earlier submission that are still in the queue keep their place rather than being doubled.
  const jobsFile = path.join(dir, 'jobs.json');
  const previous: Record<string, string> = fs.existsSync(jobsFile) ? JSON.parse(fs.readFileSync(jobsFile, 'utf8')) as Record<string, string> : {};
  const prevIds = cells.filter((c) => !doneSet.has(c.id) && previous[c.id]).map((c) => previous[c.id]);
  const prevStates = prevIds.length ? await queryJobs(exec, prevIds) : new Map<string, JobState>();

  const jobs = new Map<string, string>();
  const submitted: string[] = [];
  const reused: string[] = [];
  const paths: JobPaths = { studyFile, runsDir, logDir, node, cli };
  const record: Record<string, string> = { ...previous };
  try {
    for (const cell of cells) {
      if (doneSet.has(cell.id)) continue;
      const prev = previous[cell.id];
      const state = prev ? prevStates.get(prev) : undefined;
      if (prev && state && ACTIVE.has(state.state)) {
        jobs.set(cell.id, prev);
        reused.push(cell.id);
        continue;
      }
      const deps = cell.deps.filter((d) => !doneSet.has(d)).map((d) => {
        const id = jobs.get(d);
        if (!id) throw new Error(`internal: ${cell.id} depends on ${d}, which has neither a record nor a job`);
        return id;
      });
      const args = sbatchArgs(cell, jobResources(shared, cell, opts), deps, paths, opts);
      const r = await exec('sbatch', args);
      const id = r.stdout.trim().split(';')[0];
      if (r.code !== 0 || !/^\d+$/.test(id)) {
        throw new Error(`sbatch refused ${cell.id} (exit ${r.code}): ${(r.stderr || r.stdout).trim()}`);
      }
      jobs.set(cell.id, id);
      record[cell.id] = id;
      submitted.push(cell.id);
    }
  } finally {
    // Written even when a submission fails half-way, so a rerun sees the jobs that are queued.
    await writeJsonAtomic(jobsFile, record);
  }
  return { dir, studyFile, jobs, submitted, reused, done, cells };
}

export interface WaitResult {
  /** Final Slurm state of every job that did not leave a record (FAILED, CANCELLED, TIMEOUT, ...). */
  failed: Map<string, string>;
  interrupted: boolean;
}

const sleep = (ms: number, signal?: AbortSignal) => new Promise<void>((resolve) => {
  const wake = () => { clearTimeout(t); signal?.removeEventListener('abort', wake); resolve(); };
  const t = setTimeout(wake, ms);
  signal?.addEventListener('abort', wake);
});

/** Poll until every submitted job has left the queue, printing one line per start and end. */
export async function waitForJobs(study: StudyConfig, sub: Submission, opts: SlurmOptions): Promise<WaitResult> {
  const exec = opts.exec ?? execCommand;
  const write = opts.write ?? ((s: string) => process.stderr.write(s));
  const shared: StudyConfig = { ...study, runsDir: path.resolve(study.runsDir) };
  const byId = new Map(sub.cells.map((c) => [c.id, c]));
  const pending = new Map(sub.jobs);
  const started = new Set<string>();
  const failed = new Map<string, string>();
  const total = sub.cells.length;
  let finished = sub.done.length;
  // On NFS a directory renamed on one node can take a while (attribute caching) to show on another, so a
  // job that ended COMPLETED gets a grace period for its record to appear before it counts as failed.
  const noRecordSince = new Map<string, number>();
  const graceMs = (opts.recordGraceSeconds ?? 90) * 1000;
  let squeueErrors = 0;
  let sacctNoted = false;
  const t0 = Date.now();
  const stamp = () => `${Math.round((Date.now() - t0) / 1000)}s`;
  while (pending.size > 0) {
    if (opts.signal?.aborted) return { failed, interrupted: true };
    let states: Map<string, JobState>;
    try {
      states = await queryJobs(exec, [...pending.values()]);
      squeueErrors = 0;
    } catch (e) {
      // The controller may be briefly unreachable (restart, failover); give it a minute.
      if (++squeueErrors > Math.max(3, 60 / (opts.pollSeconds ?? 5))) throw e;
      write(`squeue: ${(e as Error).message}; retrying\n`);
      await sleep((opts.pollSeconds ?? 5) * 1000, opts.signal);
      continue;
    }
    const gone = [...pending].filter(([, id]) => !states.has(id)).map(([, id]) => id);
    if (gone.length) {
      const acct = await sacctStates(exec, gone);
      if (acct === null && !sacctNoted) {
        write('sacct: no accounting storage on this cluster; a job that left the queue counts as done when its cell record exists\n');
        sacctNoted = true;
      }
      for (const id of gone) states.set(id, acct?.get(id) ?? { id, state: 'GONE', node: '', reason: 'no longer listed by squeue' });
    }
    for (const [cellId, jobId] of [...pending]) {
      const s = states.get(jobId)!;
      if (ACTIVE.has(s.state)) {
        if (s.state === 'RUNNING' && !started.has(cellId)) {
          started.add(cellId);
          write(`${stamp()} start ${cellId} (job ${jobId} on ${s.node})\n`);
        }
        continue;
      }
      const rec = readCellRecord(shared, byId.get(cellId)!);
      if (!rec && (s.state === 'COMPLETED' || s.state === 'GONE')) {
        const since = noRecordSince.get(cellId) ?? Date.now();
        noRecordSince.set(cellId, since);
        if (Date.now() - since < graceMs) continue;
      }
      pending.delete(cellId);
      finished++;
      if (rec) {
        write(`[${finished}/${total}] ${stamp()} ${rec.computed ? 'done  ' : 'loaded'} ${cellId} (job ${jobId} on ${rec.ranOn.slurmNode ?? rec.ranOn.host}, ${rec.seconds.toFixed(1)}s)\n`);
      } else {
        const why = `${s.state}${s.reason && s.reason !== 'None' ? ` (${s.reason})` : ''}`;
        failed.set(cellId, `job ${jobId} ended ${why} without a cell record; log: ${path.join(sub.dir, 'logs', `${safeName(cellId)}.${jobId}.out`)}`);
        write(`[${finished}/${total}] ${stamp()} ${/Dependency/i.test(s.reason) ? 'never runnable' : 'FAILED'} ${cellId}: job ${jobId} ${why}\n`);
      }
    }
    if (pending.size > 0) await sleep((opts.pollSeconds ?? 5) * 1000, opts.signal);
  }
  return { failed, interrupted: false };
}

export interface ClusterRun {
  outDir: string;
  /** Why each job that ended without a cell record failed (empty when detached). */
  failed: Map<string, string>;
  submitted: number;
  reused: number;
  alreadyDone: number;
  detached: boolean;
  interrupted: boolean;
  seconds: number;
}

export interface StudyRecords {
  cells: Cell[];
  summaries: Map<string, CellSummary>;
  records: Map<string, CellRecord>;
  /** Cells without a record, with the reason. */
  missing: Map<string, string>;
}

/**
 * Everything the cell records hold: no model is loaded, so it runs on a login node, and a report built from
 * it is the same as a local run's because the records hold exactly the summaries that run would produce.
 */
export function readStudyRecords(study: StudyConfig, reasons?: Map<string, string>): StudyRecords {
  const shared: StudyConfig = { ...study, runsDir: path.resolve(study.runsDir) };
  const cells = planStudy(shared);
  const summaries = new Map<string, CellSummary>();
  const records = new Map<string, CellRecord>();
  const missing = new Map<string, string>();
  for (const c of cells) {
    const r = readCellRecord(shared, c);
    if (r) {
      summaries.set(c.id, r.summary);
      records.set(c.id, r);
    } else {
      missing.set(c.id, reasons?.get(c.id) ?? `no cell record in ${shared.runsDir} (not run yet, failed or cancelled)`);
    }
  }
  return { cells, summaries, records, missing };
}

/** Submit the study's jobs and, unless detached, wait for them; the caller builds the report from the records. */
export async function runOnSlurm(study: StudyConfig, opts: SlurmOptions): Promise<ClusterRun> {
  const t0 = Date.now();
  const write = opts.write ?? ((s: string) => process.stderr.write(s));
  const sub = await submitStudy(study, opts);
  write(`reproduce --executor slurm: ${sub.cells.length} cells; ${sub.done.length} already in the cache, ${sub.reused.length} still queued ` +
    `from an earlier submission, ${sub.submitted.length} submitted (jobs ${sub.submitted.length ? `${sub.jobs.get(sub.submitted[0])}–${sub.jobs.get(sub.submitted[sub.submitted.length - 1])}` : 'none'}); ` +
    `study file ${sub.studyFile}\n`);
  const base = { outDir: opts.outDir, submitted: sub.submitted.length, reused: sub.reused.length, alreadyDone: sub.done.length };
  if (opts.detach) {
    write(`detached: \`squeue -n <names>\` or the logs in ${path.join(sub.dir, 'logs')} show progress; ` +
      'rerun the same command with --report-only when the queue is empty\n');
    return { ...base, failed: new Map(), detached: true, interrupted: false, seconds: (Date.now() - t0) / 1000 };
  }
  const waited = await waitForJobs(study, sub, opts);
  if (waited.interrupted) {
    write('interrupted: the jobs keep running under Slurm; rerun with --report-only when they are done (or scancel them)\n');
  }
  return { ...base, failed: waited.failed, detached: false, interrupted: waited.interrupted, seconds: (Date.now() - t0) / 1000 };
}
