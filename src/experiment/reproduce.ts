/**
 * `reproduce`: plan the study's cells, run them on a pool of worker threads (one per core by default; each
 * cell loads or computes its cached artifact), show live progress, then write the report. Ctrl-C stops the
 * workers; every finished cell is already in the cache, so the next run picks up where this one stopped.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { writeCellRuns } from '../report/cellRuns';
import { writeReport } from '../report/studyReport';
import { CellRecord, readCellRecord, runCell } from './cellRun';
import { runGraph, TaskEvent } from './scheduler';
import { Cell, CellSummary, planStudy, StudyConfig } from './study';
import { WorkerPool } from './workerPool';

export interface ReproduceOptions {
  /** Worker threads; 0 runs the cells in this thread (tests, debugging). Default: one per core. */
  workers?: number;
  /** Report directory; default reports/<timestamp>. */
  outDir?: string;
  /** Forced TF.js backend for the workers. */
  backend?: string;
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

export async function reproduce(study: StudyConfig, opts: ReproduceOptions = {}): Promise<ReproduceResult> {
  const t0 = Date.now();
  const cells = planStudy(study);
  const workers = opts.workers ?? defaultWorkers();
  const write = opts.write ?? ((s: string) => process.stderr.write(s));
  const tty = opts.tty ?? (!!process.stderr.isTTY && !process.env.CI);
  const outDir = path.resolve(opts.outDir ?? path.join('reports', new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)));
  fs.mkdirSync(outDir, { recursive: true });
  const logFile = fs.openSync(path.join(outDir, 'log.txt'), 'a');
  const log = (line: string) => fs.writeSync(logFile, `${new Date().toISOString()} ${line}\n`);
  log(`reproduce: ${cells.length} cells, ${workers || 'no'} worker threads, config ${JSON.stringify(study)}`);
  write(`reproduce: ${cells.length} cells on ${workers === 0 ? 'the main thread' : `${workers} worker thread${workers > 1 ? 's' : ''}`}; report → ${outDir}\n`);

  const display = progressDisplay(cells, Math.max(1, workers), write, tty);
  let pool: WorkerPool | undefined;
  if (workers > 0) {
    pool = new WorkerPool(path.join(__dirname, 'cellWorker.js'), workers, { backend: opts.backend }, (slot, line) => log(`[worker ${slot}] ${line}`));
    if (!fs.existsSync(path.join(__dirname, 'cellWorker.js'))) throw new Error(`reproduce: ${path.join(__dirname, 'cellWorker.js')} is missing; run \`npm run build\``);
  }
  const stop = () => { void pool?.close(); };
  opts.signal?.addEventListener('abort', stop);
  let run;
  try {
    run = await runGraph<Cell, CellSummary>(cells,
      (cell, slot) => (pool ? pool.run<CellSummary>(slot, { study, cell }) : runCell(study, cell, { log })),
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
  const summaries = run.results;
  const computed = [...summaries.values()].filter((s) => !('cached' in s) || !s.cached).length;
  const seconds = (Date.now() - t0) / 1000;
  let files: string[] = [];
  if (!run.aborted) {
    files = await writeReport(study, cells, summaries, { outDir, images: opts.images ?? true, seconds, workers,
      failed: run.failed, log: (s) => { log(s); write(`${s}\n`); } });
    const records = new Map<string, CellRecord>();
    for (const c of cells) { const r = readCellRecord(study, c); if (r) records.set(c.id, r); }
    files.push(writeCellRuns(outDir, cells, records));
  }
  log(`finished in ${seconds.toFixed(1)}s: ${summaries.size} cells (${computed} computed), ${run.failed.size} failed, ` +
    `${run.skipped.length} skipped, ${run.notStarted.length} not started${run.aborted ? ' (aborted)' : ''}`);
  fs.closeSync(logFile);
  return { outDir, summaries, failed: run.failed, skipped: run.skipped, notStarted: run.notStarted, aborted: run.aborted,
    seconds, computed, cached: summaries.size - computed, files };
}
