import { aq } from '../../src/viz/arquero';
import {
  COLUMN_SEP,
  displayColumns,
  formatMeanStd,
  formatNumber,
  STD_SUFFIX,
  tableHtml,
  toCsv,
  toMarkdown,
  toPaperLayout,
  type ResultRow,
} from '../../src/viz/tables';

const rows: ResultRow[] = [
  // deliberately shuffled, methods appear in an order different from the wanted one
  { method: 'PAM', attack: 'Blended', metric: 'ASR', value: 3.14159 },
  { method: 'FT', attack: 'BadNets', metric: 'C-Acc', value: 90.04 },
  { method: 'No defense', attack: 'BadNets', metric: 'ASR', value: 99.96 },
  { method: 'FT', attack: 'BadNets', metric: 'ASR', value: 12.25 },
  { method: 'No defense', attack: 'BadNets', metric: 'C-Acc', value: 91.0 },
  { method: 'PAM', attack: 'BadNets', metric: 'C-Acc', value: 89.5 },
  { method: 'PAM', attack: 'BadNets', metric: 'ASR', value: 2 },
  { method: 'No defense', attack: 'Blended', metric: 'ASR', value: 98.0 },
];

describe('toPaperLayout', () => {
  test('rows follow methodOrder, columns are attack × metric in the given orders', () => {
    const t = toPaperLayout(rows, { methodOrder: ['No defense', 'FT', 'PAM'], attackOrder: ['BadNets', 'Blended'], metricOrder: ['C-Acc', 'ASR'] });
    expect(t.columnNames()).toEqual(['method', 'BadNets / C-Acc', 'BadNets / ASR', 'Blended / ASR']);
    expect(t.objects()).toEqual([
      { method: 'No defense', 'BadNets / C-Acc': 91, 'BadNets / ASR': 99.96, 'Blended / ASR': 98 },
      { method: 'FT', 'BadNets / C-Acc': 90.04, 'BadNets / ASR': 12.25, 'Blended / ASR': null },
      { method: 'PAM', 'BadNets / C-Acc': 89.5, 'BadNets / ASR': 2, 'Blended / ASR': 3.14159 },
    ]);
  });

  test('defaults: first-appearance order; unlisted methods follow the listed ones', () => {
    const t = toPaperLayout(rows, { methodOrder: ['PAM'] });
    expect(t.array('method')).toEqual(['PAM', 'FT', 'No defense']);
    expect(t.columnNames()).toEqual(['method', 'Blended / ASR', 'BadNets / ASR', 'BadNets / C-Acc']);
    const t2 = toPaperLayout(rows, { attackOrder: ['BadNets', 'Blended'], metricOrder: ['C-Acc', 'ASR'] });
    expect(t2.columnNames()).toEqual(['method', 'BadNets / C-Acc', 'BadNets / ASR', 'Blended / ASR']);
  });

  test('std columns appear when any row has a std', () => {
    const t = toPaperLayout([
      { method: 'A', attack: 'X', metric: 'ASR', value: 10, std: 1.25 },
      { method: 'A', attack: 'X', metric: 'C-Acc', value: 90 },
    ]);
    expect(t.columnNames()).toEqual(['method', 'X / ASR', `X / ASR${STD_SUFFIX}`, 'X / C-Acc', `X / C-Acc${STD_SUFFIX}`]);
    expect(t.objects()[0]).toEqual({ method: 'A', 'X / ASR': 10, 'X / ASR (std)': 1.25, 'X / C-Acc': 90, 'X / C-Acc (std)': null });
  });

  test('rejects duplicates, empty input, separator in names', () => {
    expect(() => toPaperLayout([rows[0], { ...rows[0], value: 1 }])).toThrow(/duplicate result for method "PAM", attack "Blended", metric "ASR"/);
    expect(() => toPaperLayout([])).toThrow(/no rows/);
    expect(() => toPaperLayout([{ method: 'A', attack: `X${COLUMN_SEP}Y`, metric: 'ASR', value: 1 }])).toThrow(/must not contain/);
  });
});

describe('formatting', () => {
  test('numbers: fixed decimals, missing as en dash, no negative zero', () => {
    expect(formatNumber(12.25)).toBe('12.3');
    expect(formatNumber(99.96)).toBe('100.0');
    expect(formatNumber(-0.04)).toBe('0.0');
    expect(formatNumber(null)).toBe('–');
    expect(formatNumber(Number.NaN)).toBe('–');
    expect(formatNumber(3.14159, 2)).toBe('3.14');
    expect(formatMeanStd(10, 1.25)).toBe('10.0 ± 1.3');
    expect(formatMeanStd(10, null)).toBe('10.0');
    expect(formatMeanStd(undefined, 2)).toBe('–');
  });

  const table = toPaperLayout(
    [
      { method: 'No defense', attack: 'BadNets', metric: 'C-Acc', value: 91.04, std: 0.26 },
      { method: 'No defense', attack: 'BadNets', metric: 'ASR', value: 99.96, std: 0.04 },
      { method: 'FT | SAM', attack: 'BadNets', metric: 'C-Acc', value: 89.5 },
      { method: 'FT | SAM', attack: 'Blended', metric: 'ASR', value: 7.25, std: 1.5 },
    ],
    { metricOrder: ['C-Acc', 'ASR'] },
  );

  test('display columns merge std and split attack / metric', () => {
    expect(displayColumns(table)).toEqual([
      { key: 'method', label: 'method' },
      { key: 'BadNets / C-Acc', stdKey: 'BadNets / C-Acc (std)', group: 'BadNets', label: 'C-Acc' },
      { key: 'BadNets / ASR', stdKey: 'BadNets / ASR (std)', group: 'BadNets', label: 'ASR' },
      { key: 'Blended / ASR', stdKey: 'Blended / ASR (std)', group: 'Blended', label: 'ASR' },
    ]);
  });

  test('markdown: one decimal, mean ± std, missing dash, escaped pipes, right-aligned numbers', () => {
    expect(toMarkdown(table)).toBe(
      [
        '| method | BadNets / C-Acc | BadNets / ASR | Blended / ASR |',
        '|:---|---:|---:|---:|',
        '| No defense | 91.0 ± 0.3 | 100.0 ± 0.0 | – |',
        '| FT \\| SAM | 89.5 | – | 7.3 ± 1.5 |',
        '',
      ].join('\n'),
    );
  });

  test('csv: formatted by default, raw on request; quoting', () => {
    expect(toCsv(table)).toBe(
      ['method,BadNets / C-Acc,BadNets / ASR,Blended / ASR', 'No defense,91.0 ± 0.3,100.0 ± 0.0,–', 'FT | SAM,89.5,–,7.3 ± 1.5', ''].join('\n'),
    );
    const raw = toCsv(table, { raw: true }).split('\n');
    expect(raw[0]).toBe('method,BadNets / C-Acc,BadNets / C-Acc (std),BadNets / ASR,BadNets / ASR (std),Blended / ASR,Blended / ASR (std)');
    expect(raw[1]).toBe('No defense,91.04,0.26,99.96,0.04,,');
    const quoted = toCsv(aq().table({ name: ['a,b', 'say "hi"'], v: [1, 2] }));
    expect(quoted).toBe('name,v\n"a,b",1.0\n"say ""hi""",2.0\n');
  });

  test('html: spanning attack headers over metric headers, formatted and escaped cells', () => {
    const html = tableHtml(table, { caption: 'Table <1>' });
    expect(html).toContain('<caption');
    expect(html).toContain('Table &lt;1&gt;');
    expect(html).toMatch(/<th rowspan="2"[^>]*>method<\/th><th colspan="2"[^>]*>BadNets<\/th><th colspan="1"[^>]*>Blended<\/th>/);
    expect(html).toMatch(/<tr><th[^>]*>C-Acc<\/th><th[^>]*>ASR<\/th><th[^>]*>ASR<\/th><\/tr>/);
    expect(html).toContain('>91.0 ± 0.3</td>');
    expect(html).toContain('>FT | SAM</td>');
    expect(html).not.toContain('<script');
    // Plain tables (no attack / metric names) get a single header row.
    const plain = tableHtml(aq().table({ name: ['x'], acc: [0.123] }), { digits: 2 });
    expect(plain).not.toContain('rowspan');
    expect(plain).toContain('>0.12</td>');
  });
});
