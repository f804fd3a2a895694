import { checkClaims, spearman } from '../../src/report/claims';
import { CellSummary, planStudy } from '../../src/experiment/study';
import { CLEAN, collectResults, MethodResult, NO_DEFENSE, stat, StudyResults } from '../../src/report/studyResults';

const s = (x: number) => stat([x]);

function row(method: string, o: { cacc: number; oAsr: number; pAsr: number; qra?: number; qraClean?: number; t50?: number | null }): MethodResult {
  return {
    attack: 'badnets', method, cleanAccuracy: s(o.cacc), oAsr: s(o.oAsr), pCleanAccuracy: s(o.cacc), pAsr: s(o.pAsr), raCurve: [],
    qraAsr: o.qra === undefined ? null : s(o.qra), qraAsrClean: o.qraClean === undefined ? null : s(o.qraClean), qraCleanAccuracy: null,
    qraQueries: null, lmc: [], lmcTAsrAbove50: o.t50 === undefined ? [] : [o.t50], lmcArea: null, lmcDistance: null, seconds: null, detection: null,
  };
}

function results(rows: MethodResult[]): StudyResults {
  return {
    study: { dataset: 'fashion-mnist', attacks: ['badnets'], defenses: [], seeds: [0], quick: false, runsDir: 'runs', pamRhos: [], retune: true, lmc: true, qra: true },
    attacks: ['badnets'], methods: rows.map((r) => r.method), rows, transfer: {},
    get: (a, m) => rows.find((r) => r.attack === a && r.method === m),
  };
}

describe('claims', () => {
  const paperLike = results([
    row(CLEAN, { cacc: 0.91, oAsr: 0.01, pAsr: 0.02 }),
    row(NO_DEFENSE, { cacc: 0.915, oAsr: 0.999, pAsr: 0.999 }),
    row('EP', { cacc: 0.90, oAsr: 0.01, pAsr: 0.05, qra: 0.1, qraClean: 0.02, t50: null }),
    row('FST', { cacc: 0.90, oAsr: 0.02, pAsr: 0.95, qra: 0.9, qraClean: 0.05, t50: 0.2 }),
    row('BTI', { cacc: 0.895, oAsr: 0.05, pAsr: 0.85, qra: 0.8, qraClean: 0.05, t50: 0.4 }),
    row('PAM', { cacc: 0.895, oAsr: 0.03, pAsr: 0.10, t50: 0.9 }),
    row('PAM@rho=0', { cacc: 0.90, oAsr: 0.03, pAsr: 0.80 }),
    row('PAM@rho=0.3', { cacc: 0.90, oAsr: 0.03, pAsr: 0.40 }),
    row('PAM@rho=0.9', { cacc: 0.88, oAsr: 0.03, pAsr: 0.05 }),
  ]);

  test('results shaped like the paper\'s claims pass every measured check; claim 4 is not measured', () => {
    const byId = Object.fromEntries(checkClaims(paperLike).map((c) => [c.id, c]));
    for (const id of [1, 2, 3, 5, 6, 7, 8, 9, 10, 11]) expect([id, byId[id].verdict]).toEqual([id, 'holds']);
    expect(byId[4].verdict).toBe('not measured');
    expect(byId[2].evidence).toContain('badnets · FST: O-ASR 2.0% → P-ASR 95.0% (+93.0 points) → holds');
  });

  test('verdicts follow the numbers: a defense that resists RA breaks claim 2, a high clean-model QRA ASR breaks claim 5', () => {
    const r = results(paperLike.rows.map((x) => (x.method === 'FST' ? { ...x, pAsr: s(0.05), qraAsrClean: s(0.85) } : x)));
    const byId = Object.fromEntries(checkClaims(r).map((c) => [c.id, c]));
    expect(byId[2].verdict).toBe('partly');
    expect(byId[2].evidence.find((e) => e.startsWith('badnets · FST'))).toMatch(/does not hold$/);
    expect(byId[5].verdict).toBe('partly');
    // PAM is then no longer 20 points below the lowest baseline.
    expect(byId[8].verdict).toBe('does not hold');
  });

  test('claims 2 and 5 grade only pairs that purified; the others are listed as not purified, not as failures', () => {
    const r = results(paperLike.rows.map((x) => (x.method === 'BTI' ? { ...x, oAsr: s(0.98), pAsr: s(0.99), qraAsr: s(0.99) } : x)));
    const byId = Object.fromEntries(checkClaims(r).map((c) => [c.id, c]));
    expect(byId[1].verdict).toBe('partly');
    expect(byId[2].verdict).toBe('holds');
    expect(byId[5].verdict).toBe('holds');
    expect(byId[2].evidence).toContain('badnets · BTI: O-ASR 98.0%, C-Acc 89.5% → not purified (not graded)');
    // With no purified pair left there is nothing to grade.
    const none = results(r.rows.map((x) => (x.method === 'FST' ? { ...x, oAsr: s(0.5) } : x)));
    expect(checkClaims(none).find((c) => c.id === 2)!.verdict).toBe('not measured');
  });

  test('with several seeds a pair holds only if it holds on the mean and on every seed', () => {
    const seeds = (xs: number[]) => stat(xs);
    const three = (rows: MethodResult[]) => ({ ...results(rows), study: { ...results(rows).study, seeds: [0, 1, 2] } });
    // FST's mean P-ASR passes claim 2 (mean 70%), but seed 2 (15%) does not.
    const mixed = three(paperLike.rows.map((x) => (x.method === 'FST' ? { ...x, oAsr: seeds([0.02, 0.02, 0.02]), pAsr: seeds([0.97, 0.98, 0.15]) } : x)));
    const c2 = checkClaims(mixed).find((c) => c.id === 2)!;
    expect(c2.rule).toMatch(/every seed/);
    expect(c2.evidence.find((e) => e.startsWith('badnets · FST'))).toMatch(/holds on 2 of 3 seeds → does not hold$/);
    expect(c2.verdict).toBe('partly');
    const steady = three(paperLike.rows.map((x) => (x.method === 'FST' ? { ...x, oAsr: seeds([0.02, 0.02, 0.02]), pAsr: seeds([0.97, 0.98, 0.9]) } : x)));
    expect(checkClaims(steady).find((c) => c.id === 2)!.evidence.find((e) => e.startsWith('badnets · FST'))).toMatch(/holds on 3 of 3 seeds → holds$/);
  });

  test('without PAM, its claims say "not measured" rather than guessing', () => {
    const r = results(paperLike.rows.filter((x) => !x.method.startsWith('PAM')));
    const byId = Object.fromEntries(checkClaims(r).map((c) => [c.id, c]));
    for (const id of [7, 8, 9, 10, 11]) expect(byId[id].verdict).toBe('not measured');
  });

  test('spearman: ±1 for monotone data, ties averaged', () => {
    expect(spearman([1, 2, 3], [10, 20, 30])).toBeCloseTo(1);
    expect(spearman([1, 2, 3], [3, 2, 1])).toBeCloseTo(-1);
    expect(spearman([1, 2, 3, 4], [1, 1, 2, 2])).toBeCloseTo(0.894, 3);
  });

  test('stat: mean and sample std over seeds; null without finite values', () => {
    const two = stat([0.2, 0.4])!;
    expect(two.mean).toBeCloseTo(0.3, 12);
    expect(two.std).toBeCloseTo(Math.sqrt(0.02), 12);
    expect(two.n).toBe(2);
    expect(stat([0.5])).toEqual({ mean: 0.5, std: null, n: 1, values: [0.5] });
    expect(stat([NaN])).toBeNull();
  });
});

describe('collectResults', () => {
  test('reads the attacked model\'s QRA numbers by name, whatever the key order of the cached evaluation', () => {
    const study = { dataset: 'synthetic' as const, attacks: ['badnets' as const], defenses: ['FST'], seeds: [0], quick: true,
      runsDir: 'runs', pamRhos: [], retune: false, lmc: false, qra: true };
    const cells = planStudy(study);
    const summaries = new Map<string, CellSummary>();
    // Keys in alphabetical order, as a JSON round trip through the cache may leave them.
    summaries.set('qra/badnets/s0/FST', { kind: 'qra', queries: 1000, seconds: 1, cached: true, key: 'k', epsilon: 16 / 255, evaluation: {
      asrPerturbed: { backdoored: 0.99, clean: 0.02, purified: 0.4 },
      asrTriggerOnly: { backdoored: 0.99, clean: 0.01, purified: 0.03 },
      cleanAccuracyPerturbed: { backdoored: 0.8, clean: 0.85, purified: 0.7 },
    } });
    const row = collectResults(study, cells, summaries).get('badnets', 'FST')!;
    expect(row.qraAsr!.mean).toBe(0.4);
    expect(row.qraAsrClean!.mean).toBe(0.02);
    expect(row.qraCleanAccuracy!.mean).toBe(0.7);
  });
});
