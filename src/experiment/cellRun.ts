/**
 * Cell records: one small artifact per finished study cell, `<runs>/cell/<key>/record.json`, holding the
 * cell's summary and where it ran (host, Slurm job, seconds). They let a submitter that never loads a
 * model (the Slurm executor, `reproduce --report-only`) tell which cells are done and build the report,
 * and they are what the report's cells.md reads. The stage artifacts a cell computes are unchanged; a
 * record only points at them through the summary's keys.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ArtifactStore } from './cache';
import { writeFileAtomic } from '../io/durable';
import { ranOn, RanOn } from './provenance';
import { Cell, CellOptions, CellSummary, executeCell, StudyConfig } from './study';

export type { RanOn };
export { ranOn };

export const CELL_STAGE = 'cell';
const RECORD_FILE = 'record.json';

export interface CellRecord {
  version: 1;
  cell: string;
  summary: CellSummary;
  ranOn: RanOn;
  executor: 'local' | 'slurm';
  startedAt: string;
  /** Wall seconds of this cell run (loading from the cache included). */
  seconds: number;
  /** False when every artifact of the cell was already in the cache. */
  computed: boolean;
}

/**
 * The part of the study a cell's result depends on. Fields that only choose which cells exist (the cell id
 * already names its attack, seed and subject) are left out, so adding a seed or an attack to a study does
 * not make its finished cells look new; paths are left out because nodes may mount storage elsewhere.
 * Any other field, including ones added later, stays in: a false "not done" costs one cheap job, a false
 * "done" would put a stale number in the report.
 */
export function cellRecordConfig(study: StudyConfig, cell: Cell): Record<string, unknown> {
  const { runsDir: _r, dataDir: _d, attacks: _a, seeds: _s, pamRhos: _p, retune: _rt, lmc: _l, qra: _q, bec: _b, defenses, ...rest } = study;
  // The transfer matrix is the one cell that reads the study's defense list.
  return { cell: cell.id, study: cell.kind === 'transfer' ? { ...rest, defenses } : rest };
}

export function cellRecordKey(study: StudyConfig, cell: Cell): string {
  return new ArtifactStore(path.resolve(study.runsDir)).key(CELL_STAGE, cellRecordConfig(study, cell), []);
}

/** The record's directory, for tests and error messages. */
export function cellRecordDir(study: StudyConfig, cell: Cell): string {
  const store = new ArtifactStore(path.resolve(study.runsDir));
  return store.dir(CELL_STAGE, cellRecordKey(study, cell));
}

// Summaries may hold NaN (a rate over zero images); JSON cannot, and the report must read back exactly
// the numbers the run produced, so non-finite numbers travel as tagged strings.
const encode = (_k: string, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? { $number: String(v) } : v);
const decode = (_k: string, v: unknown) => (v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 1 && typeof (v as { $number?: unknown }).$number === 'string'
  ? Number((v as { $number: string }).$number) : v);

function parseRecord(text: string, file: string): CellRecord {
  let r: CellRecord;
  try {
    r = JSON.parse(text, decode) as CellRecord;
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message})`);
  }
  if (r?.version !== 1 || typeof r.cell !== 'string' || typeof r.summary !== 'object' || r.summary === null) {
    throw new Error(`${file}: not a cell record (version 1 with cell and summary)`);
  }
  return r;
}

/**
 * Store the record unless one exists: the first run of a cell says where it was computed, and two
 * processes finishing the same cell leave one record (the cache's rename decides).
 */
export async function writeCellRecord(study: StudyConfig, cell: Cell, record: CellRecord): Promise<CellRecord> {
  const store = new ArtifactStore(path.resolve(study.runsDir));
  const r = await store.getOrCompute(CELL_STAGE, cellRecordConfig(study, cell), [], {
    compute: async (dir) => {
      await writeFileAtomic(path.join(dir, RECORD_FILE), `${JSON.stringify(record, encode, 2)}\n`);
      return record;
    },
    load: async (dir) => {
      const file = path.join(dir, RECORD_FILE);
      return parseRecord(await fs.promises.readFile(file, 'utf8'), file);
    },
  });
  return r.value;
}

/**
 * The finished record of a cell, or null when there is none. Cheap (no checksum pass) but only reads a
 * record whose artifact.json exists, i.e. one that was renamed into place complete.
 */
export function readCellRecord(study: StudyConfig, cell: Cell): CellRecord | null {
  const store = new ArtifactStore(path.resolve(study.runsDir));
  const key = cellRecordKey(study, cell);
  if (!store.has(CELL_STAGE, key)) return null;
  const file = path.join(store.dir(CELL_STAGE, key), RECORD_FILE);
  return parseRecord(fs.readFileSync(file, 'utf8'), file);
}

export interface RunCellOptions extends CellOptions {
  executor?: 'local' | 'slurm';
}

/** Run (or load) one cell, then store its record; returns the summary exactly as executeCell does. */
export async function runCell(study: StudyConfig, cell: Cell, opts: RunCellOptions = {}): Promise<CellSummary> {
  const started = new Date();
  const summary = await executeCell(study, cell, opts);
  await writeCellRecord(study, cell, {
    version: 1, cell: cell.id, summary, ranOn: ranOn(), executor: opts.executor ?? (process.env.SLURM_JOB_ID ? 'slurm' : 'local'),
    startedAt: started.toISOString(), seconds: (Date.now() - started.getTime()) / 1000, computed: !('cached' in summary && summary.cached),
  });
  return summary;
}
