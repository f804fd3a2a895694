/**
 * bench's PyTorch peer (scripts/bench/torch_peer.py) builds every architecture the bench compares and returns
 * one result per case. Skipped, with a note, where PyTorch is not importable.
 */
import { spawnSync } from 'child_process';
import * as path from 'path';

const python = [process.env.SUPERFICIAL_SAFETY_TORCH_PYTHON, 'python3', '/usr/bin/python3']
  .filter((p): p is string => !!p)
  .find((p) => spawnSync(p, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0);
if (!python) console.log('NOTE: PyTorch peer test skipped: PyTorch is not importable (Debian: apt-get install python3-torch)');

(python ? test : test.skip)('the peer trains and evaluates cnn, preact-resnet and resnet18 and reports images/s', () => {
  const cases = [
    { id: 'cnn', arch: 'cnn', widths: [4, 8], input: [12, 12, 1], threads: 1, repeats: 1 },
    { id: 'preact', arch: 'preact-resnet', widths: [4, 8], depth: [1, 1], input: [8, 8, 3], threads: 1, repeats: 1 },
    { id: 'r18', arch: 'resnet18', width: 0.0625, input: [16, 16, 3], threads: 1, repeats: 1 },
  ];
  const r = spawnSync(python!, [path.resolve(__dirname, '..', '..', 'scripts', 'bench', 'torch_peer.py')],
    { input: JSON.stringify({ batch: 8, cases }), encoding: 'utf8' });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  const out = JSON.parse(r.stdout) as { torch: string; results: { id: string; trainImgS: number; inferImgS: number }[] };
  expect(out.torch).toMatch(/^\d+\.\d+/);
  expect(out.results.map((x) => x.id)).toEqual(['cnn', 'preact', 'r18']);
  for (const x of out.results) {
    expect(x.trainImgS).toBeGreaterThan(0);
    expect(x.inferImgS).toBeGreaterThan(0);
  }
});

(python ? test : test.skip)('the peer builds ResNet-18 with the paper\'s parameter count (11,173,962 at width 1 on 32×32×3)', () => {
  const code = 'import sys; sys.path.insert(0, sys.argv[1]); import torch_peer as p; ' +
    'm = p.build({"arch": "resnet18", "width": 1, "input": [32, 32, 3]}); print(sum(x.numel() for x in m.parameters()))';
  const r = spawnSync(python!, ['-c', code, path.resolve(__dirname, '..', '..', 'scripts', 'bench')], { encoding: 'utf8' });
  expect(r.stdout.trim()).toBe('11173962');
});
