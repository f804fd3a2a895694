import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { initEngine } from '../../src/engine/backend';
import { reproduce } from '../../src/report/reproduce';
import { planStudy, StudyConfig, subjectLabel } from '../../src/experiment/study';

const study = (over: Partial<StudyConfig> = {}): StudyConfig => ({
  dataset: 'synthetic', attacks: ['badnets'], defenses: ['FT', 'FST'], seeds: [0], quick: true, runsDir: 'runs',
  pamRhos: [], retune: true, lmc: true, qra: true, ...over,
});

describe('planStudy', () => {
  test('one clean model per seed, one backdoored model per attack, and every analysis after what it reads', () => {
    const cells = planStudy(study({ attacks: ['badnets', 'blended'], seeds: [0, 1] }));
    const ids = new Set(cells.map((c) => c.id));
    expect(cells.filter((c) => c.kind === 'model').map((c) => c.id).sort()).toEqual([
      'model/badnets/s0/backdoored', 'model/badnets/s1/backdoored', 'model/blended/s0/backdoored', 'model/blended/s1/backdoored',
      'model/none/s0/clean', 'model/none/s1/clean']);
    // Dependencies come first in the list and exist.
    const seen = new Set<string>();
    for (const c of cells) {
      for (const d of c.deps) {
        expect(ids.has(d)).toBe(true);
        expect(seen.has(d)).toBe(true);
      }
      seen.add(c.id);
    }
    const byId = new Map(cells.map((c) => [c.id, c]));
    expect(byId.get('qra/blended/s1/FST')!.deps).toEqual(['retune/blended/s1/FST', 'model/none/s1/clean']);
    expect(byId.get('retune/badnets/s0/clean')!.deps).toEqual(['model/badnets/s0/backdoored', 'model/none/s0/clean']);
    expect(byId.get('lmc/badnets/s0/FT')!.deps).toEqual(['purify/badnets/s0/FT']);
    expect(byId.get('transfer/badnets/s0/all')!.deps).toEqual(['qra/badnets/s0/FT', 'qra/badnets/s0/FST']);
  });

  test('PAM ablations add a purify and a retune cell per ρ (ρ = 0.5 is PAM itself); switches drop analyses', () => {
    const cells = planStudy(study({ defenses: ['PAM'], pamRhos: [0, 0.5, 0.9], qra: false, lmc: false, bec: false }));
    expect(cells.map((c) => c.id)).toEqual([
      'model/none/s0/clean', 'model/badnets/s0/backdoored',
      'purify/badnets/s0/PAM', 'purify/badnets/s0/PAM@rho=0', 'purify/badnets/s0/PAM@rho=0.9',
      'retune/badnets/s0/backdoored', 'retune/badnets/s0/clean', 'retune/badnets/s0/PAM', 'retune/badnets/s0/PAM@rho=0', 'retune/badnets/s0/PAM@rho=0.9',
    ]);
  });

  test('BEC: one cell per subject; the backdoored one computes the reference the others read, each after its RA', () => {
    const cells = planStudy(study({ qra: false, lmc: false }));
    const bec = cells.filter((c) => c.kind === 'bec');
    expect(bec.map((c) => subjectLabel(c.subject!))).toEqual(['backdoored', 'clean', 'FT', 'FST']);
    const byId = new Map(cells.map((c) => [c.id, c]));
    expect(byId.get('bec/badnets/s0/backdoored')!.deps).toEqual(['retune/badnets/s0/backdoored', 'model/none/s0/clean']);
    expect(byId.get('bec/badnets/s0/FST')!.deps).toEqual(['bec/badnets/s0/backdoored', 'retune/badnets/s0/FST']);
    // Without RA the cell reads the purified model itself.
    const noRa = planStudy(study({ qra: false, lmc: false, retune: false }));
    expect(noRa.find((c) => c.id === 'bec/badnets/s0/FST')!.deps).toEqual(['bec/badnets/s0/backdoored', 'purify/badnets/s0/FST']);
    expect(planStudy(study({ bec: false })).some((c) => c.kind === 'bec')).toBe(false);
  });

  test('an unknown defense fails before any work', () => {
    expect(() => planStudy(study({ defenses: ['FT', 'NOPE'] }))).toThrow(/unknown defense "NOPE"/);
  });
});

describe('reproduce (in this thread, synthetic QUICK study)', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-reproduce-'));
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
  beforeAll(() => initEngine({ backend: 'wasm', quiet: true }));

  test('an interrupted run resumes from the cache and gives the same table as an uninterrupted one', async () => {
    const s = study({ runsDir: path.join(root, 'runs'), qra: false });
    const quiet = { workers: 0, images: false, write: () => undefined, tty: false };
    // Stop after the third finished cell.
    const controller = new AbortController();
    let done = 0;
    const first = await reproduce(s, { ...quiet, outDir: path.join(root, 'a'), signal: controller.signal,
      write: (line) => { if (/^\[\d+\/\d+\] done/.test(line) && ++done === 3) controller.abort(); } });
    expect(first.aborted).toBe(true);
    expect(first.summaries.size).toBe(3);
    expect(fs.existsSync(path.join(root, 'a', 'results.md'))).toBe(false);

    const second = await reproduce(s, { ...quiet, outDir: path.join(root, 'b') });
    expect(second.aborted).toBe(false);
    expect(second.failed.size).toBe(0);
    // The three finished cells came back from the cache; the rest were computed now.
    expect(second.cached).toBe(3);
    expect(second.computed).toBe(second.summaries.size - 3);

    const third = await reproduce(s, { ...quiet, outDir: path.join(root, 'c') });
    expect(third.computed).toBe(0);
    const table = (d: string) => fs.readFileSync(path.join(root, d, 'results.md'), 'utf8');
    expect(table('c')).toBe(table('b'));
    expect(table('b')).toMatch(/\| FST \|/);
    const claims = fs.readFileSync(path.join(root, 'b', 'claims.md'), 'utf8');
    expect(claims).toMatch(/## Claim 1: /);
    expect(claims).toMatch(/## Claim 2: [^\n]*\n\nRule: [^\n]*\n\nVerdict: \*\*(holds|does not hold|partly)\*\*/);
    expect(fs.existsSync(path.join(root, 'b', 'figures', 'o-asr-vs-p-asr.html'))).toBe(true);
    // BEC: a column of the table, a figure, and its computed claim with the rule.
    expect(table('b')).toMatch(/BEC/);
    expect(fs.existsSync(path.join(root, 'b', 'figures', 'bec-vs-reactivation-badnets.html'))).toBe(true);
    expect(claims).toMatch(/## Claim 12: [^\n]*reactivation\n\nRule: on the \(defense, attack\) pairs that purified[^\n]*\n\nVerdict: \*\*(holds|does not hold|partly|not measured)\*\*/);
    expect(JSON.parse(fs.readFileSync(path.join(root, 'b', 'config.json'), 'utf8')).study.defenses).toEqual(['FT', 'FST']);
  });
});
