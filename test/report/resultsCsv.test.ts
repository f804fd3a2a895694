import { resultsCsv } from '../../src/report/studyReport';
import { stat, StudyResults } from '../../src/report/studyResults';

describe('results.csv', () => {
  test('one row per method, attack and metric, with mean, std and every seed\'s value in %', () => {
    const r = {
      study: { seeds: [0, 1, 2] },
      rows: [{ attack: 'badnets', method: 'FST', cleanAccuracy: stat([0.9, 0.88, 0.86]), oAsr: stat([0.01, 0.03, 0.02]),
        pCleanAccuracy: null, pAsr: stat([0.5, 0.7, 0.6]), qraAsr: null }],
    } as unknown as StudyResults;
    const lines = resultsCsv(r).trim().split('\n');
    expect(lines[0]).toBe('method,attack,metric,mean,std,n,seed_0,seed_1,seed_2');
    expect(lines).toHaveLength(4);
    expect(lines[1]).toBe('"FST",BadNets,C-Acc,88.0000,2.0000,3,90.0000,88.0000,86.0000');
    expect(lines[3]).toMatch(/^"FST",BadNets,P-ASR,60\.0000,10\.0000,3,50\.0000,70\.0000,60\.0000$/);
  });
});
