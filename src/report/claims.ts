/**
 * The claims of paper-spec §13, each checked against the measured results with a stated rule. The rules
 * use the spec's suggested (S) thresholds; where the spec gives none, the rule is written next to the
 * verdict. A claim whose inputs were not measured in this run says so instead of guessing.
 */
import { PAM_DEFAULT_RHO } from '../defenses/pam';
import { CLEAN, MethodResult, methodPamRho, stat, Stat, StudyResults } from './studyResults';

export type Verdict = 'holds' | 'does not hold' | 'partly' | 'not measured';

export interface ClaimCheck {
  id: number;
  title: string;
  rule: string;
  /** One line per attack (and method where it applies): the measured quantity and its verdict. */
  evidence: string[];
  verdict: Verdict;
}

/** The baselines the paper's claims name (ANP, BAU, SAM, FST, BTI), as far as this run has them. */
export const BASELINES: readonly string[] = ['ANP', 'BAU', 'SAM', 'FST', 'BTI'];
/** The models claim 3 expects to resist RA. */
export const RA_REFERENCES: readonly string[] = ['EP', CLEAN];

const p = (x: number | null | undefined) => (x === null || x === undefined || !Number.isFinite(x) ? 'n/a' : `${(100 * x).toFixed(1)}%`);
const pts = (x: number) => `${(100 * x).toFixed(1)} points`;

function combine(flags: boolean[]): Verdict {
  if (flags.length === 0) return 'not measured';
  if (flags.every((f) => f)) return 'holds';
  if (flags.every((f) => !f)) return 'does not hold';
  return 'partly';
}

/** Reads one number of a Stat: its mean, or one seed's value. */
export type Pick = (s: Stat | null | undefined) => number;
export const MEAN: Pick = (s) => s?.mean ?? NaN;
export const seedPick = (i: number): Pick => (s) => (s ? s.values[s.values.length === 1 ? 0 : i] ?? NaN : NaN);

// The per-pair rules below take plain rates in [0, 1], so a notebook grades its own numbers with the very
// functions the claims use; the MethodResult forms read a Stat (mean or one seed) and call them.

/** Claim 1's rule, which also decides which pairs claims 2 and 5 are graded on. */
export const PURIFIED_RULE = 'O-ASR < 10% and C-Acc at most 3 points below the backdoored model';
/** Claim 1 on one pair: purified, or which half of the rule failed. */
export type PurifiedVerdict = 'purified' | 'backdoor still active' | 'accuracy lost';
export function purifiedVerdict(oAsr: number, cleanAccuracy: number, backdooredCleanAccuracy: number): PurifiedVerdict {
  if (!(oAsr < 0.1)) return 'backdoor still active';
  const drop = backdooredCleanAccuracy - cleanAccuracy;
  return !Number.isFinite(drop) || drop <= 0.03 ? 'purified' : 'accuracy lost';
}
export function isPurified(row: MethodResult, backdoored: MethodResult | undefined, v: Pick = MEAN): boolean {
  return purifiedVerdict(v(row.oAsr), v(row.cleanAccuracy), v(backdoored?.cleanAccuracy)) === 'purified';
}
/** Claim 2's rule for one purified pair: the retuning attack brings the backdoor back. */
export const REACTIVATED_RULE = 'P-ASR > 50% and P-ASR − O-ASR ≥ 30 points after RA (1,000 samples, 5 poisoned, 5 epochs)';
export function reactivatedByRa(oAsr: number, pAsr: number): boolean {
  return pAsr > 0.5 && pAsr - oAsr >= 0.3;
}
export function isReactivated(row: MethodResult, v: Pick = MEAN): boolean {
  return reactivatedByRa(v(row.oAsr), v(row.pAsr));
}
/** Claim 3's first half: the model keeps its ASR through the retuning attack. */
export const RESISTS_RULE = 'P-ASR at most 10 points above O-ASR';
export function keepsAsrThroughRa(oAsr: number, pAsr: number): boolean {
  return pAsr - oAsr <= 0.1;
}
export function resistsRetuning(row: MethodResult, v: Pick = MEAN): boolean {
  return keepsAsrThroughRa(v(row.oAsr), v(row.pAsr));
}
/** Claim 3 on one pair: both halves, given the P-ASR of the baselines on the same attack. */
export const RESISTS_RA_RULE = `${RESISTS_RULE}, and below the lowest baseline P-ASR`;
export function resistsRa(oAsr: number, pAsr: number, baselinePAsrs: number[]): boolean {
  const xs = baselinePAsrs.filter((x) => Number.isFinite(x));
  return keepsAsrThroughRa(oAsr, pAsr) && (xs.length === 0 || pAsr < Math.min(...xs));
}
/** Claim 5's rule for one purified pair. */
export const QRA_REACTIVATED_RULE = 'QRA ASR on the purified model ≥ 50% and at least 30 points above the clean model\'s ASR on the same perturbed inputs';
/** Claim 5 on one pair: reactivated, or why not (a δ that also fools the clean model is an adversarial example, not the backdoor). */
export type QraVerdict = 'reactivated' | 'δ also fools the clean model' | 'not reactivated';
export function qraVerdict(qraAsr: number, qraAsrClean: number): QraVerdict {
  if (!(qraAsr >= 0.5)) return 'not reactivated';
  return qraAsr - qraAsrClean >= 0.3 ? 'reactivated' : 'δ also fools the clean model';
}
/** Claim 6's rule: where along θ(t) = (1−t)·θ_purified + t·θ_backdoored the ASR first exceeds 50%. */
export const LMC_RULE = 'on θ(t) = (1−t)·θ_purified + t·θ_backdoored: ASR > 50% at some t ≤ 0.5 for the baselines; not before t = 0.8 for EP';
/**
 * Claim 6 on one path, by its first t with ASR > 50% (beyond 1 or Infinity: never): whether it holds for that
 * method (a baseline must cross early, EP late); null for a method claim 6 does not grade.
 */
export function lmcPathHolds(method: string, tFirst: number): boolean | null {
  if (BASELINES.includes(method)) return tFirst <= 0.5;
  return method === 'EP' ? tFirst >= 0.8 : null;
}
/** Said next to every rule: a verdict needs the mean and each seed. */
export const SEED_RULE = 'a pair holds only if it holds on the mean over seeds and on every seed';

type Test = (row: MethodResult, v: Pick) => { ok: boolean; text: string } | { notPurified: string } | null;

export function checkClaims(r: StudyResults): ClaimCheck[] {
  const baselines = BASELINES.filter((m) => r.methods.includes(m));
  const rows = (method: string) => r.attacks.map((a) => r.get(a, method)).filter((x): x is MethodResult => !!x);
  const nSeeds = r.study.seeds.length;
  const checks: ClaimCheck[] = [];
  const perMethod = (methods: string[], test: Test) => {
    const evidence: string[] = [];
    const flags: boolean[] = [];
    for (const m of methods) {
      for (const row of rows(m)) {
        const t = test(row, MEAN);
        if (!t) continue;
        if ('notPurified' in t) {
          evidence.push(`${row.attack} · ${m}: ${t.notPurified} → not purified (not graded)`);
          continue;
        }
        let seedsOk = 0;
        if (nSeeds > 1) {
          for (let i = 0; i < nSeeds; i++) {
            const u = test(row, seedPick(i));
            if (u && 'ok' in u && u.ok) seedsOk++;
          }
        }
        const ok = t.ok && (nSeeds <= 1 || seedsOk === nSeeds);
        flags.push(ok);
        const seeds = nSeeds > 1 ? `; holds on ${seedsOk} of ${nSeeds} seeds` : '';
        evidence.push(`${row.attack} · ${m}: ${t.text}${seeds} → ${ok ? 'holds' : 'does not hold'}`);
      }
    }
    return { evidence, verdict: combine(flags), flags };
  };
  const withSeeds = (rule: string) => (nSeeds > 1 ? `${rule}; ${SEED_RULE}` : rule);

  const bd = (attack: string) => r.get(attack, 'No defense');
  const onPurified = (row: MethodResult, v: Pick) => (isPurified(row, bd(row.attack), v) ? null
    : { notPurified: `O-ASR ${p(v(row.oAsr))}, C-Acc ${p(v(row.cleanAccuracy))}` });
  checks.push({
    id: 1, title: 'Purification works superficially (low O-ASR, C-Acc kept)',
    rule: withSeeds(`${PURIFIED_RULE}, for each of ANP, BAU, SAM, FST, BTI`),
    ...perMethod(baselines, (row, v) => {
      const b = bd(row.attack);
      if (!row.oAsr || !row.cleanAccuracy || !b?.cleanAccuracy) return null;
      const drop = v(b.cleanAccuracy) - v(row.cleanAccuracy);
      return { ok: isPurified(row, b, v), text: `O-ASR ${p(v(row.oAsr))}, C-Acc ${p(v(row.cleanAccuracy))} (drop ${pts(drop)})` };
    }),
  });
  checks.push({
    id: 2, title: 'The retuning attack reactivates the backdoor in those defenses',
    rule: withSeeds('on the pairs that purified (claim 1\'s thresholds on the mean over seeds; the others are listed as not purified): ' +
      REACTIVATED_RULE),
    ...perMethod(baselines, (row, v) => {
      if (!row.oAsr || !row.pAsr) return null;
      const skip = onPurified(row, MEAN);
      if (skip) return skip;
      const gap = v(row.pAsr) - v(row.oAsr);
      return { ok: isReactivated(row, v), text: `O-ASR ${p(v(row.oAsr))} → P-ASR ${p(v(row.pAsr))} (+${pts(gap)})` };
    }),
  });
  const baselinePAsrs = (attack: string, v: Pick) => baselines.map((m) => v(r.get(attack, m)?.pAsr)).filter((x) => Number.isFinite(x));
  const baselinePAsr = (attack: string, v: Pick) => {
    const xs = baselinePAsrs(attack, v);
    return xs.length > 0 ? Math.min(...xs) : null;
  };
  checks.push({
    id: 3, title: 'EP and the clean model resist RA',
    rule: withSeeds(RESISTS_RA_RULE),
    ...perMethod(RA_REFERENCES.filter((m) => r.methods.includes(m)), (row, v) => {
      if (!row.oAsr || !row.pAsr) return null;
      const low = baselinePAsr(row.attack, v);
      const ok = resistsRa(v(row.oAsr), v(row.pAsr), baselinePAsrs(row.attack, v));
      return { ok, text: `O-ASR ${p(v(row.oAsr))} → P-ASR ${p(v(row.pAsr))}; lowest baseline P-ASR ${p(low)}` };
    }),
  });
  checks.push({
    id: 4, title: CLAIM4_TITLE,
    rule: 'needs a settings sweep (`reproduce --sweep sweeps/claim4.json`)', evidence: ['this run: one setting'],
    verdict: 'not measured',
  });
  checks.push({
    id: 5, title: 'QRA reactivates purified models without weight changes, not the clean model',
    rule: withSeeds(`on the pairs that purified (claim 1's thresholds on the mean over seeds): ${QRA_REACTIVATED_RULE}, for each baseline (and FT)`),
    ...perMethod([...baselines, ...['FT'].filter((m) => r.methods.includes(m))], (row, v) => {
      if (!row.qraAsr || !row.qraAsrClean) return null;
      const skip = onPurified(row, MEAN);
      if (skip) return skip;
      const ok = qraVerdict(v(row.qraAsr), v(row.qraAsrClean)) === 'reactivated';
      return { ok, text: `ASR with δ: purified ${p(v(row.qraAsr))}, clean model ${p(v(row.qraAsrClean))}` };
    }),
  });
  // LMC's first crossing per seed: 'never' counts as past the end of the path.
  const tFirst = (row: MethodResult, v: Pick) => {
    const ts = row.lmcTAsrAbove50.map((t) => (t === null ? 1.01 : t));
    if (ts.length === 0) return undefined;
    return v(stat(ts));
  };
  const tText = (t: number) => (t > 1 ? 'never' : t.toFixed(2));
  const lmcBaselines = perMethod(baselines, (row, v) => {
    const t = tFirst(row, v);
    if (t === undefined) return null;
    return { ok: lmcPathHolds(row.method, t) === true, text: `ASR first exceeds 50% at t = ${tText(t)}` };
  });
  const lmcEp = perMethod(['EP'].filter((m) => r.methods.includes(m)), (row, v) => {
    const t = tFirst(row, v);
    if (t === undefined) return null;
    return { ok: lmcPathHolds(row.method, t) === true, text: `ASR first exceeds 50% at t = ${tText(t)}` };
  });
  checks.push({
    id: 6, title: 'LMC: baselines return to the backdoor quickly along the path; EP does not',
    rule: withSeeds(LMC_RULE),
    evidence: [...lmcBaselines.evidence, ...lmcEp.evidence],
    verdict: combine([...lmcBaselines.flags, ...lmcEp.flags]),
  });
  const pam = r.methods.includes('PAM');
  const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s.length ? (s[(s.length - 1) >> 1] + s[s.length >> 1]) / 2 : NaN; };
  checks.push({
    id: 7, title: 'PAM keeps clean accuracy and a low O-ASR',
    rule: withSeeds('PAM O-ASR < 10% and C-Acc no more than 3 points below the baselines\' median C-Acc'),
    ...(pam ? perMethod(['PAM'], (row, v) => {
      const med = median(baselines.map((m) => v(r.get(row.attack, m)?.cleanAccuracy)).filter(Number.isFinite));
      if (!row.oAsr || !row.cleanAccuracy) return null;
      return { ok: v(row.oAsr) < 0.1 && (!Number.isFinite(med) || v(row.cleanAccuracy) >= med - 0.03),
        text: `O-ASR ${p(v(row.oAsr))}, C-Acc ${p(v(row.cleanAccuracy))} (baselines' median ${p(med)})` };
    }) : { evidence: ['PAM not in this run'], verdict: 'not measured' as Verdict }),
  });
  checks.push({
    id: 8, title: 'PAM resists RA',
    rule: withSeeds('PAM P-ASR at least 20 points below the lowest baseline P-ASR and at most 15 points above EP\'s'),
    ...(pam ? perMethod(['PAM'], (row, v) => {
      if (!row.pAsr) return null;
      const low = baselinePAsr(row.attack, v);
      const epRow = r.get(row.attack, 'EP');
      const ep = epRow?.pAsr ? v(epRow.pAsr) : undefined;
      const ok = (low === null || v(row.pAsr) <= low - 0.2) && (ep === undefined || v(row.pAsr) <= ep + 0.15);
      return { ok, text: `PAM P-ASR ${p(v(row.pAsr))}; lowest baseline ${p(low)}; EP ${p(ep)}` };
    }) : { evidence: ['PAM not in this run'], verdict: 'not measured' as Verdict }),
  });
  checks.push({
    id: 9, title: 'PAM changes the path geometry (LMC like EP\'s)',
    rule: withSeeds('on the PAM → backdoored path, ASR does not exceed 50% before t = 0.8'),
    ...(pam ? perMethod(['PAM'], (row, v) => {
      const t = tFirst(row, v);
      if (t === undefined) return null;
      return { ok: t >= 0.8, text: `ASR first exceeds 50% at t = ${tText(t)}` };
    }) : { evidence: ['PAM not in this run'], verdict: 'not measured' as Verdict }),
  });
  const rhoRows = (attack: string) => r.methods
    .map((m) => ({ m, rho: methodPamRho(r, m) }))
    .filter((x): x is { m: string; rho: number } => x.rho !== undefined)
    .map((x) => ({ rho: x.rho, row: r.get(attack, x.m)! }))
    .filter((x) => x.row?.pAsr)
    .sort((a, b) => a.rho - b.rho);
  {
    const evidence: string[] = [];
    const flags: boolean[] = [];
    for (const a of r.attacks) {
      const xs = rhoRows(a).filter((x) => x.rho > 0);
      if (xs.length < 3) continue;
      const rho = spearman(xs.map((x) => x.rho), xs.map((x) => x.row.pAsr!.mean));
      flags.push(rho < 0);
      evidence.push(`${a}: P-ASR by ρ ${xs.map((x) => `${x.rho}: ${p(x.row.pAsr!.mean)}`).join(', ')}; C-Acc ${xs.map((x) => p(x.row.cleanAccuracy?.mean)).join(', ')}; ` +
        `Spearman(ρ, P-ASR) = ${rho.toFixed(2)} → ${rho < 0 ? 'holds' : 'does not hold'}`);
    }
    checks.push({ id: 10, title: 'The ρ trade-off: larger ρ, more robustness after RA', rule: 'Spearman correlation of ρ (> 0) with P-ASR is negative',
      evidence: evidence.length ? evidence : ['needs PAM at three or more ρ > 0 (`--pam-rhos`)'], verdict: combine(flags) });
  }
  {
    const evidence: string[] = [];
    const flags: boolean[] = [];
    for (const a of r.attacks) {
      const xs = rhoRows(a);
      const zero = xs.find((x) => x.rho === 0);
      const half = xs.find((x) => x.rho === PAM_DEFAULT_RHO);
      if (!zero || !half) continue;
      const gap = zero.row.pAsr!.mean - half.row.pAsr!.mean;
      flags.push(gap >= 0.2);
      evidence.push(`${a}: P-ASR ρ=0 ${p(zero.row.pAsr!.mean)} vs ρ=${PAM_DEFAULT_RHO} ${p(half.row.pAsr!.mean)} (${pts(gap)} lower with the path-aware step) → ${gap >= 0.2 ? 'holds' : 'does not hold'}`);
    }
    checks.push({ id: 11, title: 'PAM\'s benefit comes from the path-aware step', rule: `P-ASR with ρ = 0 at least 20 points above ρ = ${PAM_DEFAULT_RHO} (same pipeline and optimiser)`,
      evidence: evidence.length ? evidence : ['needs PAM with ρ = 0 (`--pam-rhos 0`)'], verdict: combine(flags) });
  }
  return checks;
}

export const CLAIM4_TITLE = 'The pattern holds across settings (target class, trigger position, poisoning rate, dataset, architecture)';

/** The baseline (attack, seed) pairs of one setting, graded by claims 1–3's rules. */
export interface SettingPattern {
  /** Baseline pairs evaluated, pairs that purified (claim 1's rule), and of those, pairs RA reactivated. */
  pairs: number;
  purified: number;
  reactivated: number;
  /** EP and clean-model (attack, seed) pairs, and those whose ASR stayed put through RA. */
  references: number;
  resisted: number;
  /** null: nothing purified, so the pattern cannot be tested in this setting. */
  holds: boolean | null;
}

export const CLAIM4_RULE = 'per setting: of the (baseline, attack, seed) pairs that purified (claim 1\'s rule), a majority ' +
  `reactivated by RA (${REACTIVATED_RULE}), and every EP and clean-model pair resisting it (${RESISTS_RULE}); ` +
  'the claim holds if that pattern holds in every setting where some baseline purified, partly if in some';

/** Claims 1–3's pattern in one setting, counted per seed (each seed's pair is one observation). */
export function settingPattern(r: StudyResults): SettingPattern {
  const out = { pairs: 0, purified: 0, reactivated: 0, references: 0, resisted: 0 };
  const nSeeds = r.study.seeds.length;
  for (const a of r.attacks) {
    const bd = r.get(a, 'No defense');
    for (let i = 0; i < nSeeds; i++) {
      const v = seedPick(i);
      for (const m of BASELINES.filter((x) => r.methods.includes(x))) {
        const row = r.get(a, m);
        if (!row?.oAsr || !row.pAsr) continue;
        out.pairs++;
        if (!isPurified(row, bd, v)) continue;
        out.purified++;
        if (isReactivated(row, v)) out.reactivated++;
      }
      for (const m of RA_REFERENCES) {
        const row = r.get(a, m);
        if (!row?.oAsr || !row.pAsr) continue;
        out.references++;
        if (resistsRetuning(row, v)) out.resisted++;
      }
    }
  }
  const holds = out.purified === 0 ? null : out.reactivated * 2 > out.purified && out.resisted === out.references;
  return { ...out, holds };
}

/** Claim 4 over a sweep: one evidence line per setting. */
export function checkClaim4(settings: { name: string; results: StudyResults }[]): ClaimCheck {
  const flags: boolean[] = [];
  const evidence = settings.map(({ name, results }) => {
    const s = settingPattern(results);
    if (s.holds !== null) flags.push(s.holds);
    return `${name}: ${s.purified} of ${s.pairs} baseline pairs purified, ${s.reactivated} of those reactivated by RA; ` +
      `EP/clean ${s.resisted} of ${s.references} resisted → ${s.holds === null ? 'not graded (nothing purified)' : s.holds ? 'holds' : 'does not hold'}`;
  });
  return { id: 4, title: CLAIM4_TITLE, rule: CLAIM4_RULE, evidence, verdict: combine(flags) };
}

function ranks(xs: number[]): number[] {
  const order = xs.map((x, i) => [x, i] as const).sort((a, b) => a[0] - b[0]);
  const r = new Array<number>(xs.length);
  for (let i = 0; i < order.length;) {
    let j = i;
    while (j + 1 < order.length && order[j + 1][0] === order[i][0]) j++;
    for (let k = i; k <= j; k++) r[order[k][1]] = (i + j) / 2;
    i = j + 1;
  }
  return r;
}

export function spearman(x: number[], y: number[]): number {
  const rx = ranks(x);
  const ry = ranks(y);
  const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
  const mx = mean(rx);
  const my = mean(ry);
  let num = 0;
  let dx = 0;
  let dy = 0;
  for (let i = 0; i < x.length; i++) {
    num += (rx[i] - mx) * (ry[i] - my);
    dx += (rx[i] - mx) ** 2;
    dy += (ry[i] - my) ** 2;
  }
  return dx === 0 || dy === 0 ? 0 : num / Math.sqrt(dx * dy);
}

export function claimsMarkdown(checks: ClaimCheck[], header: string): string {
  const lines = [header, '', '| # | claim | verdict |', '| --- | --- | --- |',
    ...checks.map((c) => `| ${c.id} | ${c.title} | **${c.verdict}** |`), ''];
  for (const c of checks) {
    lines.push(`## Claim ${c.id}: ${c.title}`, '', `Rule: ${c.rule}.`, '', `Verdict: **${c.verdict}**`, '', ...c.evidence.map((e) => `- ${e}`), '');
  }
  return lines.join('\n');
}
