import { accuracy, attackSuccessRate, confusionMatrix } from '../../src/metrics';

describe('metrics on constructed predictions', () => {
  test('accuracy', () => {
    expect(accuracy([0, 1, 2, 2], [0, 1, 1, 2])).toBe(0.75);
    expect(() => accuracy([0], [0, 1])).toThrow(/1 predictions for 2 labels/);
  });

  test('ASR counts target predictions over non-target images only', () => {
    expect(attackSuccessRate([0, 0, 3, 0], [1, 2, 3, 4], 0)).toBe(0.75);
    expect(() => attackSuccessRate([0, 0], [0, 1], 0)).toThrow(/target label/);
  });

  test('confusion matrix is counts[true][pred]', () => {
    expect(confusionMatrix([0, 1, 1, 2], [0, 0, 1, 2], 3)).toEqual([[1, 1, 0], [0, 1, 0], [0, 0, 1]]);
    expect(() => confusionMatrix([3], [0], 3)).toThrow(/out of range/);
  });
});
