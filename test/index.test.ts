/** package.json's `main` (dist/index.js) is built from src/index.ts: the names a notebook reaches through it. */
import * as fs from 'fs';
import * as path from 'path';
import * as api from '../src';
import { listNotebooks } from '../src/notebook/runner';

const indexSource = fs.readFileSync(path.join(__dirname, '..', 'src', 'index.ts'), 'utf8');

interface DistImport { notebook: string; from: string; name: string; typeOnly: boolean }

/** Every `import { ... } from '../dist...'` and `const { ... } = await import('../dist...')` in a notebook's code cells. */
function distImports(file: string): DistImport[] {
  const nb = JSON.parse(fs.readFileSync(file, 'utf8')) as { cells: { cell_type: string; source: string[] }[] };
  const code = nb.cells.filter((c) => c.cell_type === 'code').map((c) => c.source.join('')).join('\n');
  const found: DistImport[] = [];
  const re = /(import\s+type\s*|import\s*|const\s*)\{([^}]*)\}\s*(?:from\s*|=\s*await\s+import\(\s*)'(\.\.\/dist[^']*)'/g;
  for (let m = re.exec(code); m; m = re.exec(code)) {
    for (const spec of m[2].split(',').map((s) => s.trim()).filter(Boolean)) {
      const typeOnly = /^import\s+type/.test(m[1]) || spec.startsWith('type ');
      // `a as b` imports a; a destructured `a: b` reads a.
      const name = spec.replace(/^type\s+/, '').split(/\s+as\s+|\s*:\s*/)[0];
      found.push({ notebook: path.basename(file), from: m[3], name, typeOnly });
    }
  }
  return found;
}

const imports = listNotebooks(path.resolve(__dirname, '..', 'notebooks')).flatMap(distImports);

test('the notebooks import names from ../dist', () => {
  expect(imports.length).toBeGreaterThan(0);
});

test('the notebooks import from ../dist itself, not from modules under it', () => {
  expect(imports.filter((i) => i.from !== '../dist').map((i) => `${i.notebook}: ${i.name} from '${i.from}'`)).toEqual([]);
});

test.each(imports.map((i) => [i.name, i.notebook, i]))('%s (%s) is exported by src/index.ts', (_name, _nb, i) => {
  const { name, typeOnly } = i as DistImport;
  // A type leaves nothing at run time, so for those the export list itself is what is read.
  if (typeOnly) expect(indexSource).toMatch(new RegExp(`\\b${name}\\b`));
  else expect(name in api).toBe(true);
});

test.each([
  'setupNotebook', 'startNotebook', 'initEngine', 'Experiment', 'parseConfig', 'planStudy', 'reproduce', 'reproduceSweep', 'getDefense', 'defenseNames',
  'retune', 'qra', 'linearPath', 'becOf', 'checkClaims', 'collectResults', 'writeReport', 'show', 'groupedBars',
  'registerAttack', 'attackNames', 'attackLabel', 'registerDefense', 'registerDataset', 'datasetNames', 'registerArchitecture', 'architectureNames',
])('%s is exported as a function', (name) => {
  expect(typeof (api as Record<string, unknown>)[name]).toBe('function');
});

test('the package main is the compiled index', () => {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  expect(require('../package.json').main).toBe('dist/index.js');
});
