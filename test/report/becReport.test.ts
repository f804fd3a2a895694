import { becFigures, becPairs, becVsLmc, checkBecClaim } from '../../src/report/becReport';
import { BACKDOORED_SUBJECT, CLEAN_SUBJECT, defenseSubject } from '../../src/experiment/study';
import { CLEAN, MethodResult, NO_DEFENSE, stat, StudyResults } from '../../src/report/studyResults';

const s = (x: number) => stat([x]);

function row(method: string, o: { cacc?: number; oAsr: number; pAsr: number; qra?: number; bec: number; pBec?: number; t50?: number | null }): MethodResult {
  return {
    attack: 'badnets', method, cleanAccuracy: s(o.cacc ?? 0.9), oAsr: s(o.oAsr), pCleanAccuracy: s(0.9), pAsr: s(o.pAsr), raCurve: [],
    qraAsr: o.qra === undefined ? null : s(o.qra), qraAsrClean: null, qraCleanAccuracy: null, qraQueries: null, lmc: [],
    lmcTAsrAbove50: o.t50 === undefined ? [] : [o.t50], lmcArea: null, lmcDistance: null, seconds: null, detection: null,
    bec: s(o.bec), pBec: o.pBec === undefined ? null : s(o.pBec),
  };
}

function results(rows: MethodResult[]): StudyResults {
  return {
    study: { dataset: 'fashion-mnist', attacks: ['badnets'], defenses: [], seeds: [0], quick: false, runsDir: 'runs', pamRhos: [], retune: true, lmc: true, qra: true },
    attacks: ['badnets'], methods: rows.map((r) => r.method), rows, transfer: {},
    subjects: Object.fromEntries(rows.map((r) => [r.method,
      r.method === CLEAN ? CLEAN_SUBJECT : r.method === NO_DEFENSE ? BACKDOORED_SUBJECT : defenseSubject(r.method)])),
    get: (a, m) => rows.find((r) => r.attack === a && r.method === m),
  };
}

const anchors = [
  row(CLEAN, { oAsr: 0.01, pAsr: 0.02, bec: 0, pBec: 0.01 }),
  row(NO_DEFENSE, { cacc: 0.91, oAsr: 0.999, pAsr: 0.999, bec: 1, pBec: 1 }),
];

describe('BEC in the report', () => {
  test('BEC that ranks the purified defenses like P-ASR and QRA-ASR holds; non-purified pairs are listed, not graded', () => {
    const r = results([...anchors,
      row('EP', { oAsr: 0.01, pAsr: 0.05, qra: 0.02, bec: 0.1, t50: null }),
      row('PAM', { oAsr: 0.01, pAsr: 0.10, qra: 0.05, bec: 0.2, t50: 0.9 }),
      row('FST', { oAsr: 0.02, pAsr: 0.60, qra: 0.40, bec: 0.5, t50: 0.2 }),
      row('BTI', { oAsr: 0.03, pAsr: 0.90, qra: 0.80, bec: 0.7, t50: 0.5 }),
      row('ANP', { oAsr: 0.95, pAsr: 0.97, qra: 0.96, bec: 0.05, t50: 0 }),
    ]);
    const c = checkBecClaim(r);
    expect(c.verdict).toBe('holds');
    expect(c.rule).toMatch(/claim 1's rule: O-ASR < 10%.*at least 0\.6/);
    expect(c.evidence[0]).toBe('all attacks, purified pairs: Spearman(BEC, P-ASR) = 1.00 (4 pairs) → holds');
    expect(c.evidence).toContainEqual(expect.stringMatching(/^badnets · ANP: BEC 0\.05 .* → not purified \(not graded\)$/));
    expect(becPairs(r).map((p) => p.method)).toEqual(['EP', 'PAM', 'FST', 'BTI', 'ANP']);
  });

  test('a BEC that does not follow the ASR fails; too few purified pairs is not measured', () => {
    const flat = results([...anchors,
      row('EP', { oAsr: 0.01, pAsr: 0.05, qra: 0.1, bec: 0.9 }),
      row('PAM', { oAsr: 0.01, pAsr: 0.10, qra: 0.3, bec: 0.6 }),
      row('FST', { oAsr: 0.02, pAsr: 0.60, qra: 0.6, bec: 0.3 }),
      row('BTI', { oAsr: 0.03, pAsr: 0.90, qra: 0.9, bec: 0.1 }),
    ]);
    expect(checkBecClaim(flat).verdict).toBe('does not hold');
    // BEC follows P-ASR, not QRA-ASR: partly.
    const defense = (x: MethodResult) => x.method !== CLEAN && x.method !== NO_DEFENSE;
    const half = results(flat.rows.map((x) => (defense(x) ? { ...x, bec: s(x.pAsr!.mean), qraAsr: s(1 - x.qraAsr!.mean) } : x)));
    expect(checkBecClaim(half).verdict).toBe('partly');
    const few = results([...anchors, row('FST', { oAsr: 0.02, pAsr: 0.6, bec: 0.5 }), row('BTI', { oAsr: 0.03, pAsr: 0.9, bec: 0.7 })]);
    const c = checkBecClaim(few);
    expect(c.verdict).toBe('not measured');
    expect(c.evidence[0]).toMatch(/n\/a \(2 pairs; needs 4\) → not graded/);
  });

  test('BEC vs LMC: which orders the pairs more like their P-ASR (an earlier crossing is the worse defense)', () => {
    const pairs = becPairs(results([...anchors,
      row('EP', { oAsr: 0.01, pAsr: 0.05, bec: 0.1, t50: null }),
      row('PAM', { oAsr: 0.01, pAsr: 0.10, bec: 0.6, t50: 0.9 }),
      row('FST', { oAsr: 0.02, pAsr: 0.60, bec: 0.3, t50: 0.4 }),
      row('BTI', { oAsr: 0.03, pAsr: 0.90, bec: 0.7, t50: 0.2 }),
    ]));
    const cmp = becVsLmc(pairs);
    expect(cmp.lmc).toBeCloseTo(1, 10);
    expect(cmp.bec).toBeCloseTo(0.8, 10);
    expect(cmp.closer).toBe('LMC');
    expect(cmp.text).toMatch(/LMC orders them more like their P-ASR$/);
    expect(becVsLmc(pairs.slice(0, 2)).closer).toBeNull();
  });

  test('one scatter figure per attack, the correlations in its title, anchors in grey', () => {
    const r = results([...anchors,
      row('EP', { oAsr: 0.01, pAsr: 0.05, qra: 0.02, bec: 0.1 }), row('ANP', { oAsr: 0.95, pAsr: 0.97, bec: 0.05 })]);
    const figs = becFigures(r, (a) => a.toUpperCase());
    expect(figs.map((f) => f.name)).toEqual(['bec-vs-reactivation-badnets']);
    const f = figs[0].figure;
    expect(f.layout.title.text).toMatch(/^BADNETS: BEC against the ASR after the attack<br>Spearman over the purified defenses: P-ASR n\/a \(n = 1\)/);
    expect(f.data.map((d) => d.name)).toEqual(['P-ASR (purified)', 'P-ASR (not purified)', 'QRA-ASR (purified)', 'P-ASR of the clean / backdoored model']);
    expect(f.data[0]).toMatchObject({ x: [0.1], y: [5], text: ['EP'] });
    expect(f.data[3]).toMatchObject({ x: [0, 1], text: [CLEAN, NO_DEFENSE] });
    expect(becFigures(results(anchors.map((x) => ({ ...x, bec: null }))))).toEqual([]);
  });
});
