/** The notebooks' first cell: a missing build stops with one line that says to build; a stale one is a note. */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const checkBuild = require('../../scripts/notebooks/checkBuild.js') as (root?: string) => void;

let root: string;
beforeEach(() => { root = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-checkbuild-')); fs.mkdirSync(path.join(root, 'src'), { recursive: true }); });
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

test('without dist/ it throws a single line that names npm run build', () => {
  let thrown: unknown;
  try { checkBuild(root); } catch (e) { thrown = e; }
  expect(typeof thrown).toBe('string');
  expect(thrown as string).toMatch(/^dist\/ is not built: run `npm run build` in .*, then restart the kernel/);
  expect((thrown as string).includes('\n')).toBe(false);
});

test('with dist/ built it passes, and notes when src/ is newer', () => {
  fs.mkdirSync(path.join(root, 'dist'), { recursive: true });
  const src = path.join(root, 'src', 'index.ts');
  const js = path.join(root, 'dist', 'index.js');
  fs.writeFileSync(src, '');
  fs.writeFileSync(js, '');
  const logs: string[] = [];
  const spy = jest.spyOn(console, 'log').mockImplementation((s: string) => { logs.push(s); });
  try {
    fs.utimesSync(src, new Date(1000e3), new Date(1000e3));
    fs.utimesSync(js, new Date(2000e3), new Date(2000e3));
    expect(() => checkBuild(root)).not.toThrow();
    expect(logs).toEqual([]);
    fs.utimesSync(src, new Date(3000e3), new Date(3000e3));
    checkBuild(root);
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatch(/src\/ changed after the last build.*npm run build/);
  } finally {
    spy.mockRestore();
  }
});
