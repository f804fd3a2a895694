import { contentHash, stableStringify } from '../../src/io/hash';

describe('stableStringify', () => {
  it('sorts object keys at every depth and keeps array order', () => {
    expect(stableStringify({ b: 1, a: { d: [3, 1], c: 'x' } })).toBe('{"a":{"c":"x","d":[3,1]},"b":1}');
  });

  it('writes numbers canonically', () => {
    expect(stableStringify([1.0, -0, 1e21, 0.1 + 0.2, 5e-4])).toBe('[1,0,1e+21,0.30000000000000004,0.0005]');
  });

  it('rejects NaN and Infinity, naming where they are', () => {
    expect(() => stableStringify({ train: { lr: NaN } })).toThrow(/\$\.train\.lr is NaN/);
    expect(() => stableStringify([1, Infinity])).toThrow(/\$\[1\] is Infinity/);
  });

  it('rejects undefined at top level and in arrays', () => {
    expect(() => stableStringify(undefined)).toThrow(/\$ is undefined/);
    expect(() => stableStringify({ a: [1, undefined] })).toThrow(/\$\.a\[1\] is undefined/);
  });

  it('treats an undefined property as absent (an unset optional field)', () => {
    expect(stableStringify({ a: 1, dataDir: undefined })).toBe(stableStringify({ a: 1 }));
  });

  it('rejects functions, bigints, class instances and cycles', () => {
    expect(() => stableStringify({ f: () => 1 })).toThrow(/\$\.f is a function/);
    expect(() => stableStringify({ n: BigInt(1) })).toThrow(/bigint/);
    expect(() => stableStringify({ d: new Date(0) })).toThrow(/\$\.d is a Date/);
    expect(() => stableStringify({ t: new Float32Array(2) })).toThrow(/Float32Array/);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => stableStringify(cyclic)).toThrow(/cycle/);
  });

  it('allows shared (non-cyclic) references', () => {
    const shared = { x: 1 };
    expect(stableStringify({ a: shared, b: shared })).toBe('{"a":{"x":1},"b":{"x":1}}');
  });
});

describe('contentHash', () => {
  it('is 16 hex chars and ignores key order', () => {
    const h = contentHash({ a: 1, b: [1, 2] });
    expect(h).toMatch(/^[0-9a-f]{16}$/);
    expect(contentHash({ b: [1, 2], a: 1 })).toBe(h);
  });

  it('changes with any value', () => {
    expect(contentHash({ a: 1, b: [1, 2] })).not.toBe(contentHash({ a: 1, b: [2, 1] }));
    expect(contentHash({ a: 1 })).not.toBe(contentHash({ a: '1' }));
  });
});
