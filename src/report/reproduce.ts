/**
 * `reproduce` as the CLI and the notebooks call it: run the study (experiment/reproduce.ts, or Slurm jobs),
 * then write its report into the run's directory. A run stopped part-way gets no report; its finished
 * cells are in the cache for the next one.
 */
import * as fs from 'fs';
import { CellRecord, readCellRecord } from '../experiment/cellRun';
import { PlannedCell, ReproduceOptions, ReproduceResult, runStudy, runSweep, StudyRun } from '../experiment/reproduce';
import { ClusterRun, readStudyRecords, runOnSlurm, SlurmOptions } from '../experiment/slurm';
import { CellSummary, StudyConfig } from '../experiment/study';
import { Sweep } from '../experiment/sweep';
import { writeCellRuns } from './cellRuns';
import { writeReport } from './studyReport';
import { writeSweepReport } from './sweepReport';

/** The cell records of the given cells that exist (for cells.md). */
function records(planned: PlannedCell[]): Map<string, CellRecord> {
  const out = new Map<string, CellRecord>();
  for (const p of planned) { const r = readCellRecord(p.study, p.cell); if (r) out.set(p.cell.id, r); }
  return out;
}

function reportOptions(run: StudyRun, opts: ReproduceOptions) {
  return { outDir: run.outDir, images: opts.images ?? true, seconds: run.elapsed(), workers: run.workers, engine: run.engine,
    failed: run.failed, log: run.note };
}

export async function reproduce(study: StudyConfig, opts: ReproduceOptions = {}): Promise<ReproduceResult> {
  const run = await runStudy(study, opts);
  let files: string[] = [];
  if (!run.aborted) {
    const cells = run.planned.map((p) => p.cell);
    files = await writeReport(study, cells, run.summaries, reportOptions(run, opts));
    files.push(writeCellRuns(run.outDir, cells, records(run.planned)));
  }
  return run.finish(files);
}

/** A settings sweep: one report per setting under settings/<name>/ and the sweep's own page (settings axis, claim 4) at the top. */
export async function reproduceSweep(sweep: Sweep, studies: StudyConfig[], opts: ReproduceOptions = {}): Promise<ReproduceResult> {
  const run = await runSweep(sweep, studies, opts);
  let files: string[] = [];
  if (!run.aborted) {
    files = await writeSweepReport(sweep, studies, run.planned, run.summaries, reportOptions(run, opts));
    files.push(writeCellRuns(run.outDir, run.planned.map((p) => p.cell), records(run.planned)));
  }
  return run.finish(files);
}

/** The report from the cell records alone (`reproduce --report-only`, and after Slurm jobs): no model is loaded. */
export async function reportFromRecords(study: StudyConfig, opts: { outDir: string; images?: boolean; seconds: number;
  reasons?: Map<string, string>; log: (s: string) => void }): Promise<{ summaries: Map<string, CellSummary>; missing: Map<string, string>; files: string[] }> {
  const { cells, summaries, records: byCell, missing } = readStudyRecords(study, opts.reasons);
  fs.mkdirSync(opts.outDir, { recursive: true });
  const failed = new Map([...missing].map(([k, v]) => [k, new Error(v)]));
  const files = await writeReport(study, cells, summaries, { outDir: opts.outDir, images: opts.images ?? true, seconds: opts.seconds,
    workers: 0, failed, log: opts.log });
  files.push(writeCellRuns(opts.outDir, cells, byCell));
  return { summaries, missing, files };
}

export interface ClusterReproduceResult extends Omit<ClusterRun, 'failed'> {
  summaries: Map<string, CellSummary>;
  /** Cells without a record, with the reason. */
  missing: Map<string, string>;
  files: string[];
}

/** `reproduce --executor slurm`: the jobs, then (unless detached or interrupted) the report from their records. */
export async function reproduceOnSlurm(study: StudyConfig, opts: SlurmOptions): Promise<ClusterReproduceResult> {
  const write = opts.write ?? ((s: string) => process.stderr.write(s));
  const { failed, ...run } = await runOnSlurm(study, opts);
  if (run.detached || run.interrupted) return { ...run, summaries: new Map(), missing: failed, files: [] };
  const rep = await reportFromRecords(study, { outDir: opts.outDir, images: opts.images, seconds: run.seconds, reasons: failed,
    log: (s) => write(`${s}\n`) });
  return { ...run, summaries: rep.summaries, missing: rep.missing, files: rep.files };
}
