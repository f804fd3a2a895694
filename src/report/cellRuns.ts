/**
 * cells.md: where each cell of a run was computed (host, Slurm job, seconds), from the cell records. It is
 * a file of its own so that results.md stays the same whatever executor computed the numbers.
 */
import * as fs from 'fs';
import * as path from 'path';
import { CellRecord } from '../experiment/cellRun';
import { Cell } from '../experiment/study';

/** Records written before the engine was recorded say so rather than guess. */
function engineOf(r: CellRecord): string {
  if (!r.ranOn.engine) return 'not recorded';
  return r.ranOn.threads ? `${r.ranOn.engine}, ${r.ranOn.threads} thread${r.ranOn.threads > 1 ? 's' : ''}` : r.ranOn.engine;
}

export function cellRunsMarkdown(cells: Cell[], records: Map<string, CellRecord>): string {
  const fmt = (s: number) => s.toFixed(1);
  const rows = cells.map((c) => {
    const r = records.get(c.id);
    if (!r) return `| ${c.id} | no record (not run, failed or cancelled) | | | | | |`;
    return `| ${c.id} | ${r.computed ? 'computed' : 'loaded from the cache'} | ${r.ranOn.slurmNode ?? r.ranOn.host} | ` +
      `${r.ranOn.slurmJobId ?? '–'} | ${engineOf(r)} | ${fmt(r.seconds)} | ${r.startedAt} |`;
  });
  const present = [...records.values()];
  const computed = present.filter((r) => r.computed);
  const nodes = new Set(computed.map((r) => r.ranOn.slurmNode ?? r.ranOn.host));
  const jobs = computed.filter((r) => r.ranOn.slurmJobId).length;
  const total = computed.reduce((a, r) => a + r.seconds, 0);
  const engines = new Map<string, number>();
  for (const r of computed) engines.set(engineOf(r), (engines.get(engineOf(r)) ?? 0) + 1);
  return [
    '# Where each cell ran',
    '',
    `${cells.length} cells: ${present.length} with a record, ${computed.length} of them computed (${fmt(total)} s in all, ` +
      `on ${nodes.size} host${nodes.size === 1 ? '' : 's'}${jobs ? `, ${jobs} as Slurm jobs` : ''}), ` +
      `${present.length - computed.length} loaded from artifacts already in the cache, ${cells.length - present.length} missing. ` +
      'A record keeps the first run of its cell: a cell loaded from the cache by this run shows where it was computed, or loaded, first.',
    '',
    `Compute engine of the computed cells: ${engines.size ? [...engines].map(([e, n]) => `${e} (${n} cell${n === 1 ? '' : 's'})`).join('; ') : 'none computed'}.`,
    '',
    '| cell | status | host | Slurm job | engine | seconds | started (UTC) |',
    '|:---|:---|:---|---:|:---|---:|:---|',
    ...rows,
    '',
  ].join('\n');
}

export function writeCellRuns(outDir: string, cells: Cell[], records: Map<string, CellRecord>): string {
  const file = path.join(outDir, 'cells.md');
  fs.writeFileSync(file, cellRunsMarkdown(cells, records));
  return file;
}
