import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { initEngine } from '../../src/engine/backend';
import { reproduceSweep } from '../../src/report/reproduce';
import { experimentConfig, planStudy } from '../../src/experiment/study';
import { parseSweep, planSweep, readSweep, sweepStudies } from '../../src/experiment/sweep';
import { acrossSettings, sweepResults } from '../../src/report/sweepReport';

const base = { runsDir: 'runs', quick: true };

describe('sweep files', () => {
  test('the committed claim-4 sweep parses, and each setting is a study whose default one has the plain study ids', () => {
    const sweep = readSweep(path.join(__dirname, '..', '..', 'sweeps', 'claim4.json'));
    const studies = sweepStudies(sweep, base);
    expect(studies.length).toBe(sweep.settings.length);
    const defaults = studies.filter((s) => !s.setting);
    expect(defaults.length).toBe(1);
    const plain = planStudy({ ...defaults[0] }).map((c) => c.id);
    expect(plain).toContain('model/badnets/s0/backdoored');
    // Every other setting prefixes its ids, so a sweep's cells never collide.
    const ids = planSweep(studies).map((p) => p.cell.id);
    expect(new Set(ids).size).toBe(ids.length);
    // At least four target classes, every patch corner, three rates, two datasets; the second architecture
    // does not fit the two-hour budget, and the file must say so rather than drop it silently.
    const targets = new Set(studies.map((s) => s.setting?.target ?? 0));
    expect(targets.size).toBeGreaterThanOrEqual(4);
    expect(new Set(studies.map((s) => s.setting?.patchPosition ?? 'bottom-right')).size).toBe(4);
    expect(new Set(studies.map((s) => s.setting?.poisonRate ?? 0.05)).size).toBeGreaterThanOrEqual(3);
    expect(new Set(studies.map((s) => s.dataset)).size).toBeGreaterThanOrEqual(2);
    const archs = new Set(studies.map((s) => s.setting?.model?.arch ?? 'cnn'));
    if (archs.size < 2) expect(sweep.leftOut.some((x) => /preact-resnet/.test(x))).toBe(true);
  });

  test('a setting changes the attack config, never the clean model', () => {
    const [def, t3] = sweepStudies(parseSweep({ attacks: ['badnets'], defenses: ['FT'],
      settings: [{ name: 'default' }, { name: 't3', target: 3, patchPosition: 'top-left', poisonRate: 0.01 }] }), base);
    expect(experimentConfig(t3, 'badnets', 0).attack).toMatchObject({ name: 'badnets', target: 3, patchPosition: 'top-left', poisonRate: 0.01 });
    expect(experimentConfig(t3, 'none', 0)).toEqual(experimentConfig(def, 'none', 0));
    expect(planStudy(t3)[0].id).toBe('t3/model/none/s0/clean');
  });

  test('bad sweep files are refused with the field named', () => {
    expect(() => parseSweep({ attacks: ['badnets'], defenses: ['FT'], settings: [{ name: 'A B' }] })).toThrow(/settings\.0\.name: must be lower-case/);
    expect(() => parseSweep({ attacks: ['badnets'], defenses: ['FT'], settings: [{ name: 'a' }, { name: 'a', target: 1 }] }))
      .toThrow(/"a" is used twice/);
    expect(() => parseSweep({ attacks: ['badnets'], defenses: ['FT'], settings: [{ name: 'a' }, { name: 'b' }] }))
      .toThrow(/only one setting may leave every factor at its default/);
    expect(() => parseSweep({ attacks: ['badnets'], defenses: ['FT'], settings: [{ name: 'a', tagret: 1 }] })).toThrow(/Unrecognized key/);
    expect(() => readSweep('/nonexistent/sweep.json')).toThrow(/cannot read the sweep file/);
  });
});

describe('a sweep with two settings (synthetic, in this thread)', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-sweep-'));
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
  beforeAll(() => initEngine({ backend: 'wasm', quiet: true }));

  test('produces one report per setting and a sweep page with both settings and claim 4', async () => {
    const sweep = parseSweep({
      dataset: 'synthetic', attacks: ['badnets'], defenses: ['FT', 'EP'], retune: true,
      settings: [{ name: 'default' }, { name: 'target-2', target: 2, patchPosition: 'top-left' }],
    });
    const studies = sweepStudies(sweep, { runsDir: path.join(root, 'runs'), quick: true });
    const r = await reproduceSweep(sweep, studies, { workers: 0, images: false, write: () => undefined, tty: false, outDir: path.join(root, 'out') });
    expect(r.failed.size).toBe(0);
    for (const s of ['default', 'target-2']) {
      expect(fs.readFileSync(path.join(root, 'out', 'settings', s, 'results.md'), 'utf8')).toMatch(/\| EP \|/);
    }
    expect(fs.readFileSync(path.join(root, 'out', 'settings', 'target-2', 'results.md'), 'utf8')).toMatch(/target 2, BadNets patch top-left/);
    const md = fs.readFileSync(path.join(root, 'out', 'sweep.md'), 'utf8');
    expect(md).toMatch(/\| defense \| default \| target-2 \|/);
    expect(md).toMatch(/## Claim 4: [^\n]*\n\nRule: [^\n]*\n\nVerdict: \*\*(holds|does not hold|partly|not measured)\*\*/);
    expect(md).toMatch(/- default: \d+ of \d+ baseline pairs purified/);
    expect(md).toMatch(/- target-2: \d+ of \d+ baseline pairs purified/);
    expect(fs.existsSync(path.join(root, 'out', 'figures', 'sweep-gap.html'))).toBe(true);
    // The two settings share the clean model (one artifact) but not the backdoored one.
    expect(fs.readdirSync(path.join(root, 'runs', 'model')).filter((d) => !d.startsWith('.')).length).toBe(3);
    // The table behind the page: EP's purification counted per setting from the same numbers.
    const rows = acrossSettings(sweepResults(sweep, planSweep(studies), r.summaries, studies));
    expect(rows.filter((x) => x.defense === 'EP').map((x) => x.setting)).toEqual(['default', 'target-2']);
    // A rerun computes nothing.
    const again = await reproduceSweep(sweep, studies, { workers: 0, images: false, write: () => undefined, tty: false, outDir: path.join(root, 'out2') });
    expect(again.computed).toBe(0);
    expect(fs.readFileSync(path.join(root, 'out2', 'sweep.md'), 'utf8')).toBe(md);
  }, 600000);
});
