/**
 * `npm run jupyter:setup -- --check` must accept the spec setup writes and name what is broken in a stale one
 * (a moved checkout or Node), with the command that fixes it.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { tslabKernelSpec } from '../../src/notebook/runner';
import { checkKernel } from '../../src/notebook/setup';

const root = path.resolve(__dirname, '..', '..');
let prefix: string;
const kernelFile = (name: string) => path.join(prefix, 'share', 'jupyter', 'kernels', name, 'kernel.json');
const write = (name: string, content: unknown) => {
  fs.mkdirSync(path.dirname(kernelFile(name)), { recursive: true });
  fs.writeFileSync(kernelFile(name), typeof content === 'string' ? content : JSON.stringify(content));
};
const check = () => checkKernel({ root, scope: { kind: 'prefix', prefix }, python: 'python3', fixCommand: 'FIX' });

beforeEach(() => {
  prefix = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-kernelcheck-'));
  write('tslab', tslabKernelSpec(root));
  write('jslab', tslabKernelSpec(root, true));
});
afterEach(() => fs.rmSync(prefix, { recursive: true, force: true }));

test('the spec jupyter:setup writes passes', () => {
  const r = check();
  expect(r.map((x) => x.problems)).toEqual([[], []]);
  expect(r.every((x) => x.ok)).toBe(true);
});

test('a node path that no longer exists is named, with the fix', () => {
  const spec = tslabKernelSpec(root) as { argv: string[] };
  write('tslab', { ...spec, argv: ['/opt/old-node/bin/node', ...spec.argv.slice(1)] });
  const [tslab, jslab] = check();
  expect(tslab.ok).toBe(false);
  expect(tslab.problems).toHaveLength(1);
  expect(tslab.problems[0]).toMatch(/argv\[0\] \/opt\/old-node\/bin\/node does not exist.*run FIX/);
  expect(jslab.ok).toBe(true);
});

test('a moved checkout (tslab path gone), a bare "tslab", broken JSON and a missing spec are each reported', () => {
  const spec = tslabKernelSpec(root) as { argv: string[] };
  write('tslab', { ...spec, argv: [spec.argv[0], '/home/someone/old-checkout/node_modules/tslab/bin/tslab', ...spec.argv.slice(2)] });
  expect(check()[0].problems.join('\n')).toMatch(/argv\[1\] \/home\/someone\/old-checkout\/.* does not exist.*npm ci, then FIX/);
  write('tslab', { ...spec, argv: ['tslab', 'kernel', '--config-path', '{connection_file}'] });
  expect(check()[0].problems.join('\n')).toMatch(/not an absolute path/);
  write('tslab', '{"argv": [');
  expect(check()[0].problems[0]).toMatch(/not valid JSON.*FIX to rewrite it/);
  fs.rmSync(path.dirname(kernelFile('jslab')), { recursive: true });
  expect(check()[1].problems[0]).toMatch(/does not exist: the jslab kernel is not registered here; run FIX/);
});
