/**
 * The run half of `reproduce`: plan the study's cells, run them on a pool of worker threads (one per core by
 * default; each cell loads or computes its cached artifact) and show live progress. Ctrl-C stops the
 * workers; every finished cell is already in the cache, so the next run picks up where this one stopped.
 * The report is written by the caller (report/reproduce.ts) into the run's directory and log, before `finish`.
 */
import { describeEngine, initEngine } from '../engine/backend';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { runCell } from './cellRun';
import { runGraph, TaskEvent } from './scheduler';
import { Cell, CellSummary, planStudy, StudyConfig } from './study';
import { planSweep, Sweep } from './sweep';
import { WorkerPool } from './workerPool';

export interface ReproduceOptions {
  /** Worker threads; 0 runs the cells in this thread (tests, debugging). Default: one per core. */
  workers?: number;
  /** Report directory; default reports/<timestamp>. */
  outDir?: string;
  /** Forced TF.js backend for the workers. */
  backend?: string;
  /** Forced compute engine (native | wasm) and native threads per worker. */
  engine?: string;
  threads?: number;
  signal?: AbortSignal;
  /** Progress output (default: stderr); TTYs get a redrawn status line. */
  write?: (s: string) => void;
  tty?: boolean;
  /** Skip PNG/SVG export (HTML is always written). */
  images?: boolean;
}

export interface ReproduceResult {
  outDir: string;
  summaries: Map<string, CellSummary>;
  failed: Map<string, Error>;
  skipped: string[];
  notStarted: string[];
  aborted: boolean;
  seconds: number;
  computed: number;
  cached: number;
  files: string[];
}

export function defaultWorkers(): number {
  return Math.max(1, os.availableParallelism ? os.availableParallelism() : os.cpus().length);
}

const fmt = (s: number) => (!Number.isFinite(s) ? '?' : s < 60 ? `${Math.round(s)}s` : `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`);

/** Live progress: one line per finished cell, a redrawn status line on a terminal. */
function progressDisplay(cells: Cell[], workers: number, write: (s: string) => void, tty: boolean) {
  const total = cells.length;
  const start = Date.now();
  const running = new Map<string, { cell: Cell; since: number }>();
  const remaining = new Map(cells.map((c) => [c.id, c.cost]));
  let done = 0;
  // Measured/estimated seconds over computed cells, so the ETA learns this machine's speed.
  let measured = 0;
  let estimated = 0;
  const eta = () => {
    const scale = estimated > 0 ? measured / estimated : 1;
    const left = [...remaining.values()].reduce((a, b) => a + b, 0) * scale;
    return left / Math.max(1, Math.min(workers, remaining.size));
  };
  const status = () => {
    const now = Date.now();
    const runs = [...running.values()].map((r) => `${r.cell.id} ${fmt((now - r.since) / 1000)}`).join(', ');
    return `[${done}/${total}] ${fmt((now - start) / 1000)} elapsed, ETA ${fmt(eta())} · ${runs || 'idle'}`;
  };
  let drawn = false;
  const line = (s: string) => {
    if (tty && drawn) write('\r\x1b[K');
    write(`${s}\n`);
    if (tty) {
      write(status().slice(0, (process.stderr.columns ?? 120) - 1));
      drawn = true;
    }
  };
  const timer = tty ? setInterval(() => { write(`\r\x1b[K${status().slice(0, (process.stderr.columns ?? 120) - 1)}`); drawn = true; }, 1000) : undefined;
  timer?.unref();
  return {
    event(e: TaskEvent<Cell, CellSummary>) {
      if (e.type === 'start') {
        running.set(e.task.id, { cell: e.task, since: Date.now() });
        if (!tty) line(`start ${e.task.id}`);
        return;
      }
      running.delete(e.task.id);
      remaining.delete(e.task.id);
      done++;
      if (e.type === 'done') {
        const cached = 'cached' in e.result && e.result.cached;
        if (!cached) {
          measured += e.seconds;
          estimated += e.task.cost;
        }
        line(`[${done}/${total}] ${cached ? 'loaded ' : 'done   '} ${e.task.id} ${e.seconds.toFixed(1)}s${describe(e.result)} · ETA ${fmt(eta())}`);
      } else if (e.type === 'failed') {
        line(`[${done}/${total}] FAILED  ${e.task.id} after ${e.seconds.toFixed(1)}s: ${e.error.message}`);
      } else {
        line(`[${done}/${total}] skipped ${e.task.id} (needs ${e.because})`);
      }
    },
    close() {
      if (timer) clearInterval(timer);
      if (tty && drawn) write('\r\x1b[K');
    },
  };
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

function describe(r: CellSummary): string {
  switch (r.kind) {
    case 'model': return ` · C-Acc ${pct(r.cleanAccuracy)} ASR ${pct(r.asr)}`;
    case 'purify': return ` · C-Acc ${pct(r.after.cleanAccuracy)} ASR ${pct(r.before.asr)} → ${pct(r.after.asr)}`;
    case 'retune': return ` · ASR ${pct(r.history[0].asr)} → ${pct(r.history[r.history.length - 1].asr)}`;
    case 'lmc': return ` · t(ASR>50%) ${r.summary.tAsrAbove50 ?? 'never'}`;
    case 'bec': return ` · BEC ${r.bec.toFixed(3)}${r.retuned ? ` → ${r.retuned.bec.toFixed(3)} after RA` : ''}`;
    case 'qra': return ` · ASR with δ: purified ${pct(r.evaluation.asrPerturbed.purified)}, clean ${pct(r.evaluation.asrPerturbed.clean)}, backdoored ${pct(r.evaluation.asrPerturbed.backdoored)}`;
    default: return '';
  }
}

/** One cell and the study (setting) it belongs to. */
export interface PlannedCell {
  study: StudyConfig;
  cell: Cell;
}

/**
 * A finished graph run whose log.txt is still open: the caller writes the report (logging through `note`),
 * then `finish` closes the log and gives the result.
 */
export interface StudyRun extends Omit<ReproduceResult, 'seconds' | 'cached' | 'files'> {
  planned: PlannedCell[];
  workers: number;
  engine: string;
  /** Seconds since the run started. */
  elapsed(): number;
  /** One line to log.txt and to the progress output. */
  note(line: string): void;
  finish(files: string[]): ReproduceResult;
}

interface GraphRun {
  outDir: string;
  summaries: Map<string, CellSummary>;
  failed: Map<string, Error>;
  skipped: string[];
  notStarted: string[];
  aborted: boolean;
  computed: number;
  log: (line: string) => void;
  closeLog: () => void;
  write: (s: string) => void;
  workers: number;
  engine: string;
}

/** Run (or load) every planned cell on the worker pool, with live progress and the run's log.txt. */
async function runPlanned(planned: PlannedCell[], what: unknown, opts: ReproduceOptions): Promise<GraphRun> {
  const cells = planned.map((p) => p.cell);
  const studyOf = new Map(planned.map((p) => [p.cell.id, p.study]));
  const workers = opts.workers ?? defaultWorkers();
  const write = opts.write ?? ((s: string) => process.stderr.write(s));
  const tty = opts.tty ?? (!!process.stderr.isTTY && !process.env.CI);
  const outDir = path.resolve(opts.outDir ?? path.join('reports', new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)));
  fs.mkdirSync(outDir, { recursive: true });
  const logFile = fs.openSync(path.join(outDir, 'log.txt'), 'a');
  const log = (line: string) => fs.writeSync(logFile, `${new Date().toISOString()} ${line}\n`);
  log(`reproduce: ${cells.length} cells, ${workers || 'no'} worker threads, config ${JSON.stringify(what)}`);
  write(`reproduce: ${cells.length} cells on ${workers === 0 ? 'the main thread' : `${workers} worker thread${workers > 1 ? 's' : ''}`}; report → ${outDir}\n`);

  // The workers start their engines the same way, from the same addon and options.
  const engine = describeEngine(await initEngine({ backend: opts.backend, engine: opts.engine, threads: opts.threads, quiet: true }));
  log(engine);
  write(`${engine}${workers > 0 ? ', in each worker' : ''}\n`);
  const display = progressDisplay(cells, Math.max(1, workers), write, tty);
  let pool: WorkerPool | undefined;
  if (workers > 0) {
    pool = new WorkerPool(path.join(__dirname, 'cellWorker.js'), workers, { backend: opts.backend, engine: opts.engine, threads: opts.threads },
      (slot, line) => log(`[worker ${slot}] ${line}`));
    if (!fs.existsSync(path.join(__dirname, 'cellWorker.js'))) throw new Error(`reproduce: ${path.join(__dirname, 'cellWorker.js')} is missing; run \`npm run build\``);
  }
  const stop = () => { void pool?.close(); };
  opts.signal?.addEventListener('abort', stop);
  let run;
  try {
    run = await runGraph<Cell, CellSummary>(cells,
      (cell, slot) => {
        const study = studyOf.get(cell.id)!;
        return pool ? pool.run<CellSummary>(slot, { study, cell }) : runCell(study, cell, { log });
      },
      {
        concurrency: Math.max(1, workers), signal: opts.signal,
        onEvent: (e) => {
          display.event(e);
          if (e.type === 'done') log(`done ${e.task.id} ${e.seconds.toFixed(1)}s ${JSON.stringify(e.result).slice(0, 400)}`);
          if (e.type === 'failed') log(`failed ${e.task.id}: ${e.error.stack ?? e.error.message}`);
        },
      });
  } finally {
    display.close();
    opts.signal?.removeEventListener('abort', stop);
    await pool?.close();
  }
  const computed = [...run.results.values()].filter((s) => !('cached' in s) || !s.cached).length;
  return { outDir, summaries: run.results, failed: run.failed, skipped: run.skipped, notStarted: run.notStarted, aborted: run.aborted,
    computed, log, closeLog: () => fs.closeSync(logFile), write, workers, engine };
}

function studyRun(g: GraphRun, planned: PlannedCell[], t0: number): StudyRun {
  return {
    planned, outDir: g.outDir, summaries: g.summaries, failed: g.failed, skipped: g.skipped, notStarted: g.notStarted,
    aborted: g.aborted, computed: g.computed, workers: g.workers, engine: g.engine,
    elapsed: () => (Date.now() - t0) / 1000,
    note: (line) => { g.log(line); g.write(`${line}\n`); },
    finish: (files) => finish(g, t0, files),
  };
}

function finish(g: GraphRun, t0: number, files: string[]): ReproduceResult {
  const seconds = (Date.now() - t0) / 1000;
  g.log(`finished in ${seconds.toFixed(1)}s: ${g.summaries.size} cells (${g.computed} computed), ${g.failed.size} failed, ` +
    `${g.skipped.length} skipped, ${g.notStarted.length} not started${g.aborted ? ' (aborted)' : ''}`);
  g.closeLog();
  return { outDir: g.outDir, summaries: g.summaries, failed: g.failed, skipped: g.skipped, notStarted: g.notStarted, aborted: g.aborted,
    seconds, computed: g.computed, cached: g.summaries.size - g.computed, files };
}

export async function runStudy(study: StudyConfig, opts: ReproduceOptions = {}): Promise<StudyRun> {
  const t0 = Date.now();
  const planned = planStudy(study).map((cell) => ({ study, cell }));
  return studyRun(await runPlanned(planned, study, opts), planned, t0);
}

/** A settings sweep: every setting's graph in one pool, so the cores stay busy across settings. */
export async function runSweep(sweep: Sweep, studies: StudyConfig[], opts: ReproduceOptions = {}): Promise<StudyRun> {
  const t0 = Date.now();
  const planned = planSweep(studies);
  return studyRun(await runPlanned(planned, { sweep, studies }, opts), planned, t0);
}
