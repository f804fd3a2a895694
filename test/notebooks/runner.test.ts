import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { isQuick } from '../../src/notebook/env';
import { executeArgs, htmlArgs, listNotebooks, tslabKernelArgv, writeLocalKernelspec } from '../../src/notebook/runner';
import { findPython, kernelsDir } from '../../src/notebook/setup';

const root = path.resolve(__dirname, '..', '..');

describe('runner', () => {
  let tmp: string;
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-runner-'));
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  test('QUICK parsing', () => {
    expect(isQuick({ QUICK: '1' })).toBe(true);
    expect(isQuick({ QUICK: 'true' })).toBe(true);
    expect(isQuick({})).toBe(false);
    expect(isQuick({ QUICK: '0' })).toBe(false);
    expect(isQuick({ QUICK: 'false' })).toBe(false);
  });

  test('the local kernelspec starts this checkout’s tslab with this node, by absolute path', () => {
    const dir = writeLocalKernelspec(root, tmp);
    const spec = JSON.parse(fs.readFileSync(path.join(dir, 'kernels', 'tslab', 'kernel.json'), 'utf8')) as { argv: string[]; language: string };
    expect(spec.argv).toEqual([process.execPath, path.join(root, 'node_modules', 'tslab', 'bin', 'tslab'), 'kernel', '--config-path', '{connection_file}']);
    expect(spec.language).toBe('typescript');
    expect(fs.existsSync(spec.argv[1])).toBe(true);
    expect(tslabKernelArgv(root, true).at(-1)).toBe('--js');
  });

  test('nbconvert arguments: tslab kernel, timeout, failure hook, offline template', () => {
    const ex = executeArgs('/x/notebooks/a.ipynb', '/out', 300, root);
    expect(ex).toEqual(
      expect.arrayContaining([
        'nbconvert',
        '--execute',
        '--ExecutePreprocessor.kernel_name=tslab',
        '--ExecutePreprocessor.timeout=300',
        `--config=${path.join(root, 'scripts', 'notebooks', 'nbconvert_config.py')}`,
        '--output=a',
      ]),
    );
    expect(ex).not.toContain('--allow-errors');
    const html = htmlArgs('/out/a.ipynb', '/out', root);
    expect(html).toEqual(expect.arrayContaining(['--to', 'html', '--template=offline']));
    for (const f of ['nbconvert_config.py', 'templates/offline/index.html.j2', 'templates/offline/conf.json']) {
      expect(fs.existsSync(path.join(root, 'scripts', 'notebooks', f))).toBe(true);
    }
  });

  test('the offline template drops every CDN script of the lab template', () => {
    const tpl = fs.readFileSync(path.join(root, 'scripts', 'notebooks', 'templates', 'offline', 'index.html.j2'), 'utf8');
    for (const block of ['html_head_js_requirejs', 'html_head_js_mathjax', 'jupyter_widgets']) {
      expect(tpl).toMatch(new RegExp(`block ${block} -?%}\\s*{%-? endblock ${block}`));
    }
  });

  test('notebooks are listed sorted, checkpoints and non-notebooks ignored', () => {
    for (const f of ['b.ipynb', 'a.ipynb', '.hidden.ipynb', 'notes.md']) fs.writeFileSync(path.join(tmp, f), '{}');
    fs.mkdirSync(path.join(tmp, '.ipynb_checkpoints'));
    expect(listNotebooks(tmp).map((f) => path.basename(f))).toEqual(['a.ipynb', 'b.ipynb']);
    expect(listNotebooks(path.join(tmp, 'missing'))).toEqual([]);
  });
});

describe('jupyter:setup helpers', () => {
  test('findPython prefers $PYTHON, then the shebang of jupyter on PATH', () => {
    expect(findPython({ PYTHON: '/opt/py/bin/python' })).toBe('/opt/py/bin/python');
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-py-'));
    try {
      fs.writeFileSync(path.join(tmp, 'jupyter'), '#!/venv/bin/python3.11\nimport sys\n');
      expect(findPython({ PATH: tmp })).toBe('/venv/bin/python3.11');
      fs.writeFileSync(path.join(tmp, 'jupyter'), '#!/usr/bin/env python3\n');
      expect(findPython({ PATH: tmp })).toBe('python3');
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  test('kernel directories per scope', () => {
    expect(kernelsDir({ kind: 'prefix', prefix: '/p' }, 'python3')).toBe('/p/share/jupyter/kernels');
    expect(kernelsDir({ kind: 'user' }, 'python3', { JUPYTER_DATA_DIR: '/d' })).toBe('/d/kernels');
    if (process.platform === 'linux') {
      expect(kernelsDir({ kind: 'user' }, 'python3', { XDG_DATA_HOME: '/x' })).toBe('/x/jupyter/kernels');
    }
  });
});

describe('countFigureOutputs', () => {
  test('counts figure divs in text/html outputs (string or line list)', () => {
    const { countFigureOutputs } = jest.requireActual('../../src/notebook/browserCheck') as typeof import('../../src/notebook/browserCheck');
    const { FIGURE_CLASS } = jest.requireActual('../../src/viz/html') as typeof import('../../src/viz/html');
    const div = `<div id="a" class="${FIGURE_CLASS}" style="">`;
    const nb = {
      cells: [
        { cell_type: 'markdown' },
        { cell_type: 'code', outputs: [{ data: { 'text/html': [div, '\n', div] } }, { data: { 'text/plain': div } }] },
        { cell_type: 'code', outputs: [{ data: { 'text/html': div } }, { output_type: 'stream', text: 'x' }] },
      ],
    };
    expect(countFigureOutputs(nb)).toBe(3);
    expect(countFigureOutputs({})).toBe(0);
  });
});
