/** What a JupyterLab user gets on opening a notebook: the tslab kernel preselected, and a build check before any ../dist import. */
import * as fs from 'fs';
import * as path from 'path';
import { listNotebooks } from '../../src/notebook/runner';

const notebooks = listNotebooks(path.resolve(__dirname, '..', '..', 'notebooks'));

test.each(notebooks.map((f) => [path.basename(f), f]))('%s names the tslab kernel and checks the build first', (_name, file) => {
  const nb = JSON.parse(fs.readFileSync(file, 'utf8')) as { metadata: { kernelspec?: { name?: string; display_name?: string } }; cells: { cell_type: string; source: string[] }[] };
  expect(nb.metadata.kernelspec).toEqual({ name: 'tslab', display_name: 'TypeScript', language: 'typescript' });
  const code = nb.cells.filter((c) => c.cell_type === 'code').map((c) => c.source.join(''));
  expect(code[0]).toMatch(/require\('\.\.\/scripts\/notebooks\/checkBuild\.js'\)\(\)/);
  expect(code[0]).not.toMatch(/from '\.\.\/dist/);
  expect(code.slice(1).some((s) => s.includes("from '../dist'"))).toBe(true);
});
