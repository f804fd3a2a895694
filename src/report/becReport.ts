/**
 * The backdoor existence coefficient (issue 20) in the report: does how much of the backdoor's representation
 * is still inside a purified model (BEC, analysis/bec) predict what an attacker gets back afterwards (P-ASR
 * after RA, QRA-ASR)? And does it order the defenses more like their P-ASR than LMC's first crossing of 50%
 * ASR does? Graded on the pairs that purified, by claim 1's rule (claims.isPurified), with claims.spearman.
 */
import type { NamedFigure } from '../viz/export';
import { scatterPlot, ScatterSeries } from '../viz/scatter';
import { ClaimCheck, isPurified, PURIFIED_RULE, spearman, Verdict } from './claims';
import { CLEAN, MethodResult, NO_DEFENSE, Stat, StudyResults } from './studyResults';

/** The rule's threshold and the fewest pairs a rank correlation is graded on. */
export const BEC_MIN_SPEARMAN = 0.6;
export const BEC_MIN_PAIRS = 4;
export const BEC_RULE = `on the (defense, attack) pairs that purified (claim 1's rule: ${PURIFIED_RULE}), pooled over attacks, ` +
  `the Spearman rank correlation of BEC with P-ASR is at least ${BEC_MIN_SPEARMAN}, and so is that of BEC with QRA-ASR ` +
  `(where QRA ran); each needs at least ${BEC_MIN_PAIRS} pairs; means over seeds`;

export interface BecPair {
  attack: string;
  method: string;
  bec: number;
  pBec: number;
  oAsr: number;
  pAsr: number;
  qraAsr: number;
  /** First t at which LMC's ASR exceeds 50% (mean over seeds), 'never' counted as 1.01 as claim 6 does. */
  tCross: number;
  purified: boolean;
}

const mean = (s: Stat | null | undefined) => s?.mean ?? NaN;

function firstCrossing(row: MethodResult): number {
  const ts = row.lmcTAsrAbove50.map((t) => (t === null ? 1.01 : t));
  return ts.length ? ts.reduce((a, b) => a + b, 0) / ts.length : NaN;
}

/** Every defense × attack with a BEC: the reference models (Clean, No defense) are not defenses and are left out. */
export function becPairs(r: StudyResults): BecPair[] {
  const out: BecPair[] = [];
  for (const attack of r.attacks) {
    const bd = r.get(attack, NO_DEFENSE);
    for (const method of r.methods) {
      if (method === CLEAN || method === NO_DEFENSE) continue;
      const row = r.get(attack, method);
      if (!row?.bec) continue;
      out.push({
        attack, method, bec: mean(row.bec), pBec: mean(row.pBec), oAsr: mean(row.oAsr), pAsr: mean(row.pAsr), qraAsr: mean(row.qraAsr),
        tCross: firstCrossing(row), purified: isPurified(row, bd),
      });
    }
  }
  return out;
}

export interface Correlation {
  n: number;
  rho: number | null;
}

/** Spearman of BEC with `y` over the pairs where both are measured; null below BEC_MIN_PAIRS. */
export function correlate(pairs: BecPair[], y: (p: BecPair) => number, x: (p: BecPair) => number = (p) => p.bec): Correlation {
  const ok = pairs.filter((p) => Number.isFinite(x(p)) && Number.isFinite(y(p)));
  return { n: ok.length, rho: ok.length >= BEC_MIN_PAIRS ? spearman(ok.map(x), ok.map(y)) : null };
}

const rhoText = (c: Correlation) => (c.rho === null ? `n/a (${c.n} pairs; needs ${BEC_MIN_PAIRS})` : `${c.rho.toFixed(2)} (${c.n} pairs)`);
const short = (c: Correlation) => (c.rho === null ? `n/a (n = ${c.n})` : `${c.rho.toFixed(2)} (n = ${c.n})`);
const pct = (x: number) => (Number.isFinite(x) ? `${(100 * x).toFixed(1)}%` : 'n/a');
const tText = (t: number) => (!Number.isFinite(t) ? 'n/a' : t > 1 ? 'never' : t.toFixed(2));

/** The computed verdict "BEC predicts reactivation", with its rule; id 12 follows the spec's eleven claims. */
export function checkBecClaim(r: StudyResults): ClaimCheck {
  const pairs = becPairs(r);
  const purified = pairs.filter((p) => p.purified);
  const onP = correlate(purified, (p) => p.pAsr);
  const onQ = correlate(purified, (p) => p.qraAsr);
  const graded = [onP, onQ].filter((c) => c.rho !== null);
  const flags = graded.map((c) => c.rho! >= BEC_MIN_SPEARMAN);
  const verdict: Verdict = flags.length === 0 ? 'not measured' : flags.every((f) => f) ? 'holds' : flags.every((f) => !f) ? 'does not hold' : 'partly';
  const grade = (c: Correlation) => (c.rho === null ? 'not graded' : c.rho >= BEC_MIN_SPEARMAN ? 'holds' : 'does not hold');
  const cmp = becVsLmc(purified);
  const evidence = [
    `all attacks, purified pairs: Spearman(BEC, P-ASR) = ${rhoText(onP)} → ${grade(onP)}`,
    `all attacks, purified pairs: Spearman(BEC, QRA-ASR) = ${rhoText(onQ)} → ${grade(onQ)}`,
    ...r.attacks.map((a) => {
      const ps = purified.filter((p) => p.attack === a);
      return `${a} (not graded alone): Spearman(BEC, P-ASR) = ${rhoText(correlate(ps, (p) => p.pAsr))}, Spearman(BEC, QRA-ASR) = ${rhoText(correlate(ps, (p) => p.qraAsr))}`;
    }),
    `for comparison (not graded), on the same pairs: ${cmp.text}`,
    `for comparison (not graded), on every defense, purified or not: Spearman(BEC, P-ASR) = ${rhoText(correlate(pairs, (p) => p.pAsr))}, ` +
      `Spearman(BEC, QRA-ASR) = ${rhoText(correlate(pairs, (p) => p.qraAsr))}; ${becVsLmc(pairs).text}`,
    ...pairs.map((p) => `${p.attack} · ${p.method}: BEC ${p.bec.toFixed(2)} (after RA ${Number.isFinite(p.pBec) ? p.pBec.toFixed(2) : 'n/a'}), ` +
      `O-ASR ${pct(p.oAsr)}, P-ASR ${pct(p.pAsr)}, QRA-ASR ${pct(p.qraAsr)}, LMC t(ASR > 50%) ${tText(p.tCross)}` +
      `${p.purified ? '' : ' → not purified (not graded)'}`),
  ];
  return {
    id: 12, title: 'Extension (Zhu, Liang & Wu 2024): the backdoor existence coefficient predicts reactivation',
    rule: BEC_RULE, evidence, verdict,
  };
}

export interface ExplanationComparison {
  n: number;
  /** Spearman of BEC with P-ASR. */
  bec: number | null;
  /** Spearman of −t (LMC's first crossing of 50% ASR; an earlier crossing is the worse defense) with P-ASR. */
  lmc: number | null;
  /** Which of the two orders the pairs more like their P-ASR, or 'tie', or null when either is not measured. */
  closer: 'BEC' | 'LMC' | 'tie' | null;
  text: string;
}

/** Which explanation ranks the given pairs more like their P-ASR: BEC, or LMC's first crossing of 50% ASR. */
export function becVsLmc(pairs: BecPair[]): ExplanationComparison {
  const withBoth = pairs.filter((p) => Number.isFinite(p.bec) && Number.isFinite(p.tCross) && Number.isFinite(p.pAsr));
  const b = correlate(withBoth, (p) => p.pAsr);
  const l = correlate(withBoth, (p) => p.pAsr, (p) => -p.tCross);
  const closer = b.rho === null || l.rho === null ? null : Math.abs(b.rho - l.rho) < 1e-9 ? 'tie' : b.rho > l.rho ? 'BEC' : 'LMC';
  const text = `Spearman with P-ASR over ${withBoth.length} pairs with both measured: BEC ${b.rho === null ? 'n/a' : b.rho.toFixed(2)}, ` +
    `LMC (−first t with ASR > 50%) ${l.rho === null ? 'n/a' : l.rho.toFixed(2)} → ` +
    (closer === null ? `not compared (needs ${BEC_MIN_PAIRS} pairs)` : closer === 'tie' ? 'the two order them equally well' : `${closer} orders them more like their P-ASR`);
  return { n: withBoth.length, bec: b.rho, lmc: l.rho, closer, text };
}

/**
 * Per attack, and over all attacks together: BEC against P-ASR and QRA-ASR for every defense (filled: the
 * pairs that purified, which the correlations in the title use; open: the others), the clean and the
 * backdoored model as grey anchors at BEC 0 and 1.
 */
export function becFigures(r: StudyResults, label: (attack: string) => string = (a) => a): NamedFigure[] {
  const all = becPairs(r);
  if (all.length === 0) return [];
  const scopes = [...r.attacks.map((a) => ({ name: a, title: label(a), attacks: [a] })),
    ...(r.attacks.length > 1 ? [{ name: 'all', title: 'All attacks', attacks: r.attacks }] : [])];
  return scopes.map((scope) => {
    const pairs = all.filter((p) => scope.attacks.includes(p.attack));
    const tag = (p: BecPair) => (scope.attacks.length > 1 ? `${p.method} · ${label(p.attack)}` : p.method);
    const purified = pairs.filter((p) => p.purified);
    const series: ScatterSeries[] = [];
    // QRA points sit at their P-ASR point's BEC: named on hover only, so that each defense is written once.
    const add = (name: string, ps: BecPair[], y: (p: BecPair) => number, symbol: string, color: string) => {
      if (ps.length > 0) series.push({ name, x: ps.map((p) => p.bec), y: ps.map((p) => 100 * y(p)), labels: ps.map(tag), symbol, color, hoverOnly: name.startsWith('QRA') });
    };
    const others = pairs.filter((p) => !p.purified);
    add('P-ASR (purified)', purified, (p) => p.pAsr, 'circle', '#e45756');
    add('P-ASR (not purified)', others, (p) => p.pAsr, 'circle-open', '#e45756');
    add('QRA-ASR (purified)', purified.filter((p) => Number.isFinite(p.qraAsr)), (p) => p.qraAsr, 'diamond', '#4c78a8');
    add('QRA-ASR (not purified)', others.filter((p) => Number.isFinite(p.qraAsr)), (p) => p.qraAsr, 'diamond-open', '#4c78a8');
    const anchors = scope.attacks.flatMap((a) => [CLEAN, NO_DEFENSE].map((m) => ({ m, a, row: r.get(a, m) })))
      .filter((x) => x.row?.bec && x.row.pAsr);
    if (anchors.length > 0) {
      series.push({ name: 'P-ASR of the clean / backdoored model', x: anchors.map((x) => mean(x.row!.bec)), y: anchors.map((x) => 100 * mean(x.row!.pAsr)),
        labels: anchors.map((x) => (scope.attacks.length > 1 ? `${x.m} · ${label(x.a)}` : x.m)), symbol: 'square', color: '#999999' });
    }
    const onP = correlate(purified, (p) => p.pAsr);
    const onQ = correlate(purified, (p) => p.qraAsr);
    return {
      name: `bec-vs-reactivation-${scope.name}`,
      figure: scatterPlot({
        title: `${scope.title}: BEC against the ASR after the attack<br>Spearman over the purified defenses: ` +
          `P-ASR ${short(onP)}, QRA-ASR ${short(onQ)}`,
        xTitle: 'BEC (0 = clean model, 1 = backdoored model)', yTitle: 'ASR after the attack (%)', yRange: [-5, 105], series,
      }),
    };
  });
}
