/**
 * Committed notebooks carry no outputs: this fails `npm test` if any notebooks/*.ipynb has outputs,
 * execution counts, execution timings or widget state. Fix with `npm run notebooks:clean`.
 */
import * as fs from 'fs';
import * as path from 'path';
import { notebookOutputProblems, serializeNotebook, stripOutputs } from '../../src/notebook/clean';

const dir = path.join(__dirname, '..', '..', 'notebooks');
const notebooks = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.ipynb')).sort() : [];

describe('committed notebooks', () => {
  test('there is at least one notebook', () => {
    expect(notebooks.length).toBeGreaterThan(0);
  });

  test.each(notebooks)('%s has no outputs and uses the tslab kernel', (name) => {
    const nb = JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8')) as { metadata?: { kernelspec?: { name?: string } } };
    const problems = notebookOutputProblems(nb);
    if (problems.length > 0) {
      throw new Error(`notebooks/${name} is committed with outputs (${problems.join('; ')}). Run: npm run notebooks:clean`);
    }
    expect(nb.metadata?.kernelspec?.name).toBe('tslab');
  });
});

describe('output detection and stripping', () => {
  const dirty = {
    cells: [
      { cell_type: 'markdown', metadata: {}, source: '# t' },
      {
        cell_type: 'code',
        execution_count: 3,
        metadata: { execution: { 'iopub.execute_input': 'x' }, tags: ['keep'] },
        outputs: [{ output_type: 'stream', name: 'stdout', text: 'hi' }],
        source: 'console.log("hi")',
      },
    ],
    metadata: { kernelspec: { name: 'tslab' }, widgets: {} },
    nbformat: 4,
    nbformat_minor: 5,
  };

  test('finds outputs, counts, timings and widget state', () => {
    expect(notebookOutputProblems(dirty)).toEqual([
      'cell 1: 1 output(s)',
      'cell 1: execution_count 3',
      'cell 1: execution timing metadata',
      'notebook metadata holds widget state',
    ]);
    expect(notebookOutputProblems({})).toEqual(['not a notebook (no cells array)']);
  });

  test('stripping leaves a clean notebook and keeps other metadata', () => {
    const clean = stripOutputs(dirty);
    expect(notebookOutputProblems(clean)).toEqual([]);
    expect(clean.cells[1]).toMatchObject({ outputs: [], execution_count: null, metadata: { tags: ['keep'] } });
    expect(dirty.cells[1].outputs).toHaveLength(1); // input untouched
    // nbformat's layout: sorted keys, one-space indent, trailing newline.
    const text = serializeNotebook(clean);
    expect(text.endsWith('}\n')).toBe(true);
    expect(text.indexOf('"cells"')).toBeLessThan(text.indexOf('"metadata"'));
    expect(text).toContain('\n "cells": [');
  });
});
