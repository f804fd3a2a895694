import {
  checkClaims, lmcPathHolds, LMC_RULE, purifiedVerdict, PURIFIED_RULE, qraVerdict, QRA_REACTIVATED_RULE, reactivatedByRa, REACTIVATED_RULE,
  resistsRa, RESISTS_RA_RULE, spearman,
} from '../../src/report/claims';
import {
  BACKDOORED_SUBJECT, CellSummary, CLEAN_SUBJECT, defenseSubject, pamAblation, planStudy, StudySubject, subjectLabel,
} from '../../src/experiment/study';
import { CLEAN, collectResults, MethodResult, methodPamRho, NO_DEFENSE, stat, StudyResults } from '../../src/report/studyResults';

const s = (x: number) => stat([x]);

const subjectOf = (method: string): StudySubject =>
  (method === CLEAN ? CLEAN_SUBJECT : method === NO_DEFENSE ? BACKDOORED_SUBJECT : defenseSubject(method));
const subjects = new Map<string, StudySubject>();

function row(m: string | StudySubject, o: { cacc: number; oAsr: number; pAsr: number; qra?: number; qraClean?: number; t50?: number | null }): MethodResult {
  const subject = typeof m === 'string' ? subjectOf(m) : m;
  const method = typeof m === 'string' ? m : subjectLabel(m);
  subjects.set(method, subject);
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
    subjects: Object.fromEntries(rows.map((r) => [r.method, subjects.get(r.method)!])),
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
    row(pamAblation(0), { cacc: 0.90, oAsr: 0.03, pAsr: 0.80 }),
    row(pamAblation(0.3), { cacc: 0.90, oAsr: 0.03, pAsr: 0.40 }),
    row(pamAblation(0.9), { cacc: 0.88, oAsr: 0.03, pAsr: 0.05 }),
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

  test('PAM rows carry their ρ as data: the label is today\'s text, the default ρ is PAM\'s own', () => {
    expect(paperLike.methods.slice(-4)).toEqual(['PAM', 'PAM@rho=0', 'PAM@rho=0.3', 'PAM@rho=0.9']);
    expect(paperLike.methods.map((m) => methodPamRho(paperLike, m))).toEqual([undefined, undefined, undefined, undefined, undefined, 0.5, 0, 0.3, 0.9]);
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

// The notebooks grade their own numbers with the per-pair functions; these must say what claims.md says.
describe('per-pair rules agree with the claims', () => {
  const bd = { cacc: 0.915, oAsr: 0.999, pAsr: 0.999 };
  const claim = (id: number, rows: MethodResult[]) => checkClaims(results(rows)).find((c) => c.id === id)!;
  const line = (id: number, rows: MethodResult[], method: string) => claim(id, rows).evidence.find((e) => e.startsWith(`badnets · ${method}:`))!;

  test.each([
    // [O-ASR, P-ASR]: at the thresholds (P-ASR 50% is not above 50%; +30 points is enough), and either side.
    [0.2, 0.5, false], [0.2, 0.51, true], [0.25, 0.55, true], [0.26, 0.55, false], [0.05, 0.95, true], [0.05, 0.3, false],
  ])('claim 2 at O-ASR %p, P-ASR %p: reactivated = %p', (oAsr, pAsr, expected) => {
    expect(reactivatedByRa(oAsr, pAsr)).toBe(expected);
    // A purified pair (O-ASR below 10% is needed for claim 2 to grade it) is graded by the same function.
    const graded = oAsr < 0.1 ? [row(CLEAN, { cacc: 0.91, oAsr: 0.01, pAsr: 0.02 }), row(NO_DEFENSE, bd), row('FST', { cacc: 0.9, oAsr, pAsr })] : null;
    if (graded) expect(line(2, graded, 'FST').endsWith(expected ? '→ holds' : '→ does not hold')).toBe(true);
    expect(claim(2, [row(NO_DEFENSE, bd)]).rule).toContain(REACTIVATED_RULE);
  });

  test.each([
    // [O-ASR, C-Acc]: O-ASR must be below 10%; a drop of up to 3 points from the backdoored 91.5% is allowed.
    [0.099, 0.886, 'purified'], [0.1, 0.9, 'backdoor still active'], [0.05, 0.884, 'accuracy lost'], [0.05, 0.9, 'purified'],
  ] as const)('claim 1 at O-ASR %p, C-Acc %p: %s', (oAsr, cacc, expected) => {
    expect(purifiedVerdict(oAsr, cacc, bd.cacc)).toBe(expected);
    const l = line(1, [row(NO_DEFENSE, bd), row('BTI', { cacc, oAsr, pAsr: 0.9 })], 'BTI');
    expect(l.endsWith(expected === 'purified' ? '→ holds' : '→ does not hold')).toBe(true);
    expect(claim(1, [row(NO_DEFENSE, bd)]).rule).toContain(PURIFIED_RULE);
  });

  test.each([
    // [QRA ASR on the purified model, on the clean model]: ≥ 50% and ≥ 30 points above the clean model.
    [0.5, 0.2, 'reactivated'], [0.5, 0.21, 'δ also fools the clean model'], [0.49, 0.0, 'not reactivated'], [0.9, 0.05, 'reactivated'],
  ] as const)('claim 5 at QRA ASR %p, clean %p: %s', (qra, qraClean, expected) => {
    expect(qraVerdict(qra, qraClean)).toBe(expected);
    const l = line(5, [row(NO_DEFENSE, bd), row('FST', { cacc: 0.9, oAsr: 0.02, pAsr: 0.9, qra, qraClean })], 'FST');
    expect(l.endsWith(expected === 'reactivated' ? '→ holds' : '→ does not hold')).toBe(true);
    expect(claim(5, [row(NO_DEFENSE, bd)]).rule).toContain(QRA_REACTIVATED_RULE);
  });

  test.each([
    // [O-ASR, P-ASR, the baselines' P-ASR]: at most +10 points and below the lowest baseline.
    [0.01, 0.11, [0.9], true], [0.01, 0.12, [0.9], false], [0.01, 0.08, [0.08], false], [0.01, 0.05, [], true],
  ])('claim 3 at O-ASR %p, P-ASR %p, baselines %p: resists = %p', (oAsr, pAsr, baselines, expected) => {
    expect(resistsRa(oAsr, pAsr, baselines)).toBe(expected);
    const rows = [row(NO_DEFENSE, bd), row('EP', { cacc: 0.9, oAsr, pAsr }),
      ...baselines.map((b) => row('FST', { cacc: 0.9, oAsr: 0.02, pAsr: b }))];
    expect(line(3, rows, 'EP').endsWith(expected ? '→ holds' : '→ does not hold')).toBe(true);
    expect(claim(3, rows).rule).toContain(RESISTS_RA_RULE);
  });

  test.each([
    ['FST', 0.5, true], ['FST', 0.6, false], ['EP', 0.8, true], ['EP', 0.7, false], ['EP', 1.01, true],
  ] as const)('claim 6: %s first crossing at t = %p holds = %p', (method, t, expected) => {
    expect(lmcPathHolds(method, t)).toBe(expected);
    const rows = [row(NO_DEFENSE, bd), row(method, { cacc: 0.9, oAsr: 0.02, pAsr: 0.9, t50: t > 1 ? null : t })];
    expect(line(6, rows, method).endsWith(expected ? '→ holds' : '→ does not hold')).toBe(true);
    expect(claim(6, rows).rule).toContain(LMC_RULE);
    expect(lmcPathHolds('FT', 0.1)).toBeNull();
  });
});
