/**
 * cells.md: where each cell of a run was computed (host, Slurm job, seconds), from the cell records. It is
 * a file of its own so that results.md stays the same whatever executor computed the numbers.
 */
import * as fs from 'fs';
import * as path from 'path';
import { CellRecord } from '../experiment/cellRun';
import { Cell } from '../experiment/study';

export function cellRunsMarkdown(cells: Cell[], records: Map<string, CellRecord>): string {
  const fmt = (s: number) => s.toFixed(1);
  const rows = cells.map((c) => {
    const r = records.get(c.id);
    if (!r) return `| ${c.id} | no record (not run, failed or cancelled) | | | | |`;
    return `| ${c.id} | ${r.computed ? 'computed' : 'loaded from the cache'} | ${r.ranOn.slurmNode ?? r.ranOn.host} | ` +
      `${r.ranOn.slurmJobId ?? '–'} | ${fmt(r.seconds)} | ${r.startedAt} |`;
  });
  const present = [...records.values()];
  const computed = present.filter((r) => r.computed);
  const nodes = new Set(computed.map((r) => r.ranOn.slurmNode ?? r.ranOn.host));
  const jobs = computed.filter((r) => r.ranOn.slurmJobId).length;
  const total = computed.reduce((a, r) => a + r.seconds, 0);
  return [
    '# Where each cell ran',
    '',
    `${cells.length} cells: ${present.length} with a record, ${computed.length} of them computed (${fmt(total)} s in all, ` +
      `on ${nodes.size} host${nodes.size === 1 ? '' : 's'}${jobs ? `, ${jobs} as Slurm jobs` : ''}), ` +
      `${present.length - computed.length} loaded from artifacts already in the cache, ${cells.length - present.length} missing. ` +
      'A record keeps the first run of its cell: a cell loaded from the cache by this run shows where it was computed, or loaded, first.',
    '',
    '| cell | status | host | Slurm job | seconds | started (UTC) |',
    '|:---|:---|:---|---:|---:|:---|',
    ...rows,
    '',
  ].join('\n');
}

export function writeCellRuns(outDir: string, cells: Cell[], records: Map<string, CellRecord>): string {
  const file = path.join(outDir, 'cells.md');
  fs.writeFileSync(file, cellRunsMarkdown(cells, records));
  return file;
}
