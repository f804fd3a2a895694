/**
 * Committed notebooks carry no outputs (clean diffs; executed copies live in reports/). This module
 * finds outputs (used by the check in `npm test`) and strips them (`npm run notebooks:clean`), in plain
 * Node, writing JSON the way Jupyter does (sorted keys, one-space indent) so that a clean-up does not
 * reformat the whole file.
 */
import * as fs from 'fs';
import * as path from 'path';
import { projectRoot } from './env';
import { listNotebooks } from './runner';

interface Cell {
  cell_type: string;
  source?: string | string[];
  outputs?: unknown[];
  execution_count?: number | null;
  metadata?: Record<string, unknown>;
  [key: string]: unknown;
}

interface Notebook {
  cells: Cell[];
  metadata?: Record<string, unknown>;
  [key: string]: unknown;
}

/** What is wrong with a notebook that should be output-free (empty = clean). */
export function notebookOutputProblems(nb: unknown): string[] {
  const problems: string[] = [];
  const n = nb as Notebook;
  if (typeof n !== 'object' || n === null || !Array.isArray(n.cells)) return ['not a notebook (no cells array)'];
  n.cells.forEach((c, i) => {
    if (c.cell_type !== 'code') return;
    if (Array.isArray(c.outputs) && c.outputs.length > 0) problems.push(`cell ${i}: ${c.outputs.length} output(s)`);
    if (c.execution_count !== null && c.execution_count !== undefined) problems.push(`cell ${i}: execution_count ${c.execution_count}`);
    if (c.metadata && 'execution' in c.metadata) problems.push(`cell ${i}: execution timing metadata`);
  });
  if (n.metadata && 'widgets' in n.metadata) problems.push('notebook metadata holds widget state');
  return problems;
}

/** A copy without outputs, execution counts, execution timings or widget state. */
export function stripOutputs<T>(nb: T): T {
  const n = JSON.parse(JSON.stringify(nb)) as Notebook;
  for (const c of n.cells) {
    if (c.cell_type === 'code') {
      c.outputs = [];
      c.execution_count = null;
    }
    if (c.metadata) delete c.metadata.execution;
  }
  if (n.metadata) delete n.metadata.widgets;
  return n as unknown as T;
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (typeof v === 'object' && v !== null) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) out[k] = sortKeys((v as Record<string, unknown>)[k]);
    return out;
  }
  return v;
}

/** Serialise like nbformat (`json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False)` + newline). */
export function serializeNotebook(nb: unknown): string {
  return JSON.stringify(sortKeys(nb), null, 1) + '\n';
}

/** Strip outputs from notebooks in place; returns the files that changed. */
export function cleanNotebooks(files: string[] = listNotebooks(path.join(projectRoot(), 'notebooks'))): string[] {
  const changed: string[] = [];
  for (const f of files) {
    const text = fs.readFileSync(f, 'utf8');
    const nb = JSON.parse(text) as unknown;
    if (notebookOutputProblems(nb).length === 0) continue;
    fs.writeFileSync(f, serializeNotebook(stripOutputs(nb)));
    changed.push(f);
  }
  return changed;
}
