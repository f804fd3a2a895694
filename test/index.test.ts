/** package.json's `main` (dist/index.js) is built from src/index.ts: the names a notebook reaches through it. */
import * as api from '../src';

test.each([
  'setupNotebook', 'initEngine', 'Experiment', 'parseConfig', 'planStudy', 'reproduce', 'reproduceSweep', 'getDefense', 'defenseNames',
  'retune', 'qra', 'linearPath', 'becOf', 'checkClaims', 'collectResults', 'writeReport', 'show', 'groupedBars',
  'registerAttack', 'attackNames', 'attackLabel', 'registerDefense', 'registerDataset', 'datasetNames', 'registerArchitecture', 'architectureNames',
])('%s is exported as a function', (name) => {
  expect(typeof (api as Record<string, unknown>)[name]).toBe('function');
});

test('the package main is the compiled index', () => {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  expect(require('../package.json').main).toBe('dist/index.js');
});
