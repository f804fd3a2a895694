import { createHash } from 'crypto';
import { cellRecordKey } from '../../src/experiment/cellRun';
import { PAM_DEFAULT_RHO } from '../../src/defenses/pam';
import {
  BACKDOORED_SUBJECT, cellId, CLEAN_SUBJECT, defenseSubject, pamAblation, pamAblations, pamRho, planStudy, StudyConfig, subjectLabel, subjectStage,
} from '../../src/experiment/study';

// Cell ids name cached cell records (hashed into their keys) and Slurm jobs: a change in how subjects are
// written would orphan every finished cell. These ids and keys were computed before subjects became values.
const study: StudyConfig = {
  dataset: 'fashion-mnist', attacks: ['badnets', 'blended'], defenses: ['EP', 'BTI', 'PAM'], seeds: [0, 1], quick: true,
  runsDir: '/tmp/ss-pinned', pamRhos: [0, 0.3, 0.5, 0.9], retune: true, lmc: true, qra: true,
};

describe('study subjects keep their cell ids and record keys', () => {
  test.each([
    ['purify/blended/s1/PAM@rho=0.3', '165a610ce562c8ec'],
    ['retune/badnets/s0/PAM@rho=0', '217e1ea93a55c9cc'],
    ['bec/badnets/s1/PAM@rho=0.9', '4f5f1a20eeab7f17'],
    ['transfer/badnets/s0/all', 'fd1d0ea289077984'],
    ['qra/blended/s0/PAM', 'c57d913f4fdb2ca0'],
    ['lmc/badnets/s1/clean', '04dc366538863b13'],
  ])('%s', (id, key) => {
    const cell = planStudy(study).find((c) => c.id === id);
    expect(cell).toBeDefined();
    expect(cellRecordKey(study, cell!)).toBe(key);
  });

  test('a setting prefixes the id and keeps the key', () => {
    const s = { ...study, setting: { name: 'target3', target: 3 } };
    const cell = planStudy(s).find((c) => c.id === 'target3/retune/blended/s0/PAM@rho=0.3');
    expect(cell).toBeDefined();
    expect(cellRecordKey(s, cell!)).toBe('9e52ccda9f48a968');
  });

  test('the whole plan is unchanged: 122 cells, ids, dependencies and costs', () => {
    const cells = planStudy(study);
    expect(cells.length).toBe(122);
    const digest = createHash('sha256')
      .update(cells.map((c) => `${c.id}|${c.deps.join(',')}|${c.cost}`).join('\n')).digest('hex');
    expect(digest).toBe('e4e961c49424b97edbdb051a78d4d97d6a2a1f806c9a9ec10dc11ea6dcf2e1bd');
  });
});

describe('study subjects are values', () => {
  test('an ablation round-trips: today\'s label and id, PAM with ρ overridden, ρ read from the value', () => {
    const s = pamAblation(0.3);
    expect(s).toEqual({ kind: 'ablation', defense: 'PAM', overrides: { rho: 0.3 } });
    expect(subjectLabel(s)).toBe('PAM@rho=0.3');
    expect(cellId('purify', 'blended', 1, s)).toBe('purify/blended/s1/PAM@rho=0.3');
    expect(subjectStage(s)).toEqual({ subject: 'PAM', defenseConfig: { rho: 0.3 } });
    expect(pamRho(s)).toBe(0.3);
    expect(planStudy(study).find((c) => c.id === 'purify/blended/s1/PAM@rho=0.3')!.subject).toEqual(s);
  });

  test('the other kinds: labels, stage names, and PAM itself at its default ρ', () => {
    expect([BACKDOORED_SUBJECT, CLEAN_SUBJECT, defenseSubject('FST'), defenseSubject('PAM')].map(subjectLabel))
      .toEqual(['backdoored', 'clean', 'FST', 'PAM']);
    expect(subjectStage(CLEAN_SUBJECT)).toEqual({ subject: 'clean', defenseConfig: {} });
    expect(subjectStage(defenseSubject('FST'))).toEqual({ subject: 'FST', defenseConfig: {} });
    expect(pamRho(defenseSubject('PAM'))).toBe(PAM_DEFAULT_RHO);
    expect(pamRho(defenseSubject('FST'))).toBeUndefined();
    expect(cellId('transfer', 'badnets', 0, null)).toBe('transfer/badnets/s0/all');
  });

  test('ρ = the default is PAM itself, not an ablation', () => {
    expect(pamAblations({ pamRhos: [0, PAM_DEFAULT_RHO, 0.9] }, ['PAM']).map(subjectLabel)).toEqual(['PAM@rho=0', 'PAM@rho=0.9']);
    expect(pamAblations({ pamRhos: [] }, ['PAM'])).toEqual([]);
  });
});
