import { groupedBars, heatmap, imageGrid, imageToRgb, linePlot, SEQUENTIAL_BLUES } from '../../src/viz/figures';
import type { AxisSpec } from '../../src/viz/types';

describe('groupedBars', () => {
  const spec = {
    title: 'ASR',
    categories: ['BadNets', 'Blended'],
    series: [
      { name: 'FT (before)', values: [90, 80], errors: [1, 2] },
      { name: 'FT (after)', values: [5, null], hatched: true, color: '#123456' },
    ],
    xTitle: 'Attack',
    yTitle: 'ASR (%)',
    yRange: [0, 100] as [number, number],
  };

  test('one bar trace per series over the categories, error bars where given', () => {
    const fig = groupedBars(spec);
    expect(fig.data).toHaveLength(2);
    expect(fig.data.map((t) => t.type)).toEqual(['bar', 'bar']);
    expect(fig.data[0]).toMatchObject({ name: 'FT (before)', x: ['BadNets', 'Blended'], y: [90, 80], showlegend: true });
    expect(fig.data[0].error_y).toEqual({ type: 'data', array: [1, 2], visible: true });
    expect(fig.data[1].error_y).toBeUndefined();
    expect(fig.data[1].y).toEqual([5, null]);
    expect(fig.data[1].marker).toEqual({ color: '#123456', pattern: { shape: '/', solidity: 0.4 } });
  });

  test('layout: grouped, titles on both axes, y range, legend shown', () => {
    const { layout } = groupedBars(spec);
    expect(layout.barmode).toBe('group');
    expect(layout.title.text).toBe('ASR');
    expect(layout.xaxis?.title?.text).toBe('Attack');
    expect(layout.yaxis?.title?.text).toBe('ASR (%)');
    expect(layout.yaxis?.range).toEqual([0, 100]);
    expect(layout.xaxis?.type).toBe('category');
    expect(layout.showlegend).toBe(true);
  });

  test('the spec is plain JSON (NaN becomes null) and the input is not aliased', () => {
    const values = [Number.NaN, 3];
    const fig = groupedBars({ ...spec, series: [{ name: 's', values }] });
    expect(JSON.parse(JSON.stringify(fig))).toEqual(fig);
    expect(fig.data[0].y).toEqual([null, 3]);
    values[1] = 99;
    expect(fig.data[0].y).toEqual([null, 3]);
  });

  test('rejects mismatched lengths and bad ranges with the series named', () => {
    expect(() => groupedBars({ ...spec, series: [{ name: 'short', values: [1] }] })).toThrow(/groupedBars: values of series "short" has 1 entries, expected 2/);
    expect(() => groupedBars({ ...spec, series: [{ name: 'e', values: [1, 2], errors: [1] }] })).toThrow(/errors of series "e"/);
    expect(() => groupedBars({ ...spec, yRange: [100, 0] })).toThrow(/yRange/);
    expect(() => groupedBars({ ...spec, series: [] })).toThrow(/series is empty/);
  });
});

describe('linePlot', () => {
  test('scatter traces with lines+markers, errors, dash; axis titles and ranges', () => {
    const fig = linePlot({
      title: 'Path',
      series: [
        { name: 'C-Acc', x: [0, 0.5, 1], y: [90, 80, 91] },
        { name: 'ASR', x: new Float64Array([0, 0.5, 1]), y: [1, 50, 99], errors: [1, 1, 1], dash: 'dash' },
      ],
      xTitle: 'α',
      yTitle: 'Rate (%)',
      yRange: [0, 100],
      xRange: [0, 1],
    });
    expect(fig.data.map((t) => [t.type, t.mode, t.name])).toEqual([
      ['scatter', 'lines+markers', 'C-Acc'],
      ['scatter', 'lines+markers', 'ASR'],
    ]);
    expect(fig.data[1].x).toEqual([0, 0.5, 1]);
    expect(Array.isArray(fig.data[1].x)).toBe(true);
    expect(fig.data[1].error_y?.array).toEqual([1, 1, 1]);
    expect(fig.data[1].line).toEqual({ dash: 'dash' });
    expect(fig.layout.xaxis?.title?.text).toBe('α');
    expect(fig.layout.yaxis?.title?.text).toBe('Rate (%)');
    expect(fig.layout.xaxis?.range).toEqual([0, 1]);
    expect(fig.layout.yaxis?.range).toEqual([0, 100]);
    expect(fig.layout.showlegend).toBe(true);
  });

  test('markers can be turned off; no range means autoscale', () => {
    const fig = linePlot({ title: 't', series: [{ name: 'a', x: [1, 2], y: [3, 4] }], xTitle: 'x', yTitle: 'y', markers: false });
    expect(fig.data[0].mode).toBe('lines');
    expect(fig.layout.yaxis?.range).toBeUndefined();
  });

  test('rejects x/y length mismatch', () => {
    expect(() => linePlot({ title: 't', series: [{ name: 'a', x: [1, 2], y: [3] }], xTitle: 'x', yTitle: 'y' })).toThrow(/y of series "a"/);
  });
});

describe('heatmap', () => {
  const base = {
    title: 'Confusion',
    z: [
      [50, 2],
      [3, 45],
    ],
    x: [0, 1],
    y: ['zero', 'one'],
    xTitle: 'Predicted',
    yTitle: 'True',
    colorbarTitle: 'Count',
  };

  test('one heatmap trace with string labels, titled colour bar, first row on top', () => {
    const fig = heatmap(base);
    expect(fig.data).toHaveLength(1);
    const t = fig.data[0];
    expect(t.type).toBe('heatmap');
    expect(t.x).toEqual(['0', '1']);
    expect(t.y).toEqual(['zero', 'one']);
    expect(t.z).toEqual(base.z);
    expect(t.colorbar).toEqual({ title: { text: 'Count' } });
    expect(t.colorscale).toEqual(SEQUENTIAL_BLUES);
    expect(t.text).toBeUndefined();
    expect(fig.layout.yaxis?.autorange).toBe('reversed');
    expect(fig.layout.xaxis?.title?.text).toBe('Predicted');
    expect(fig.layout.yaxis?.title?.text).toBe('True');
  });

  test('annotations: integers without decimals, otherwise `digits`', () => {
    expect(heatmap({ ...base, annotate: true }).data[0].text).toEqual([
      ['50', '2'],
      ['3', '45'],
    ]);
    const rates = heatmap({ ...base, z: [[0.5, 0.25], [0.125, null]], annotate: true, digits: 1, zRange: [0, 1] });
    expect(rates.data[0].text).toEqual([
      ['0.5', '0.3'],
      ['0.1', ''],
    ]);
    expect(rates.data[0].texttemplate).toBe('%{text}');
    expect([rates.data[0].zmin, rates.data[0].zmax]).toEqual([0, 1]);
  });

  test('rejects ragged matrices', () => {
    expect(() => heatmap({ ...base, z: [[1, 2], [3]] })).toThrow(/z\[1\] has 1 entries, expected 2/);
    expect(() => heatmap({ ...base, z: [[1, 2]] })).toThrow(/z \(rows\)/);
  });
});

describe('imageGrid', () => {
  const grey = (v: number) => ({ pixels: new Uint8Array([v, v, v, v]), height: 2, width: 2, channels: 1 as const });

  test('imageToRgb: grey Uint8 0..255 and RGB Float32 0..1 (clamped) become 0..255 triplets', () => {
    expect(imageToRgb(grey(7))).toEqual([
      [
        [7, 7, 7],
        [7, 7, 7],
      ],
      [
        [7, 7, 7],
        [7, 7, 7],
      ],
    ]);
    const rgb = imageToRgb({ pixels: new Float32Array([0, 0.5, 1, 2, -1, 0.2]), height: 1, width: 2, channels: 3 });
    expect(rgb).toEqual([
      [
        [0, 128, 255],
        [255, 0, 51],
      ],
    ]);
    expect(() => imageToRgb({ ...grey(1), pixels: new Uint8Array(3) })).toThrow(/pixels has 3 entries, expected 4/);
  });

  test('one image trace per cell on its own hidden axes, with row/column titles and labels', () => {
    const fig = imageGrid({
      title: 'Samples',
      images: [
        [grey(0), { ...grey(255), label: 'cat' }],
        [grey(128)],
      ],
      rowTitles: ['clean', 'triggered'],
      colTitles: ['a', 'b'],
    });
    expect(fig.data.map((t) => [t.type, t.xaxis, t.yaxis])).toEqual([
      ['image', 'x', 'y'],
      ['image', 'x2', 'y2'],
      ['image', 'x3', 'y3'],
    ]);
    const L = fig.layout;
    const xa = L.xaxis as AxisSpec;
    const ya3 = L.yaxis3 as AxisSpec;
    expect(xa.visible).toBe(false);
    expect(ya3.scaleanchor).toBe('x3');
    expect(ya3.range).toEqual([1.5, -0.5]);
    // Row 2 lies below row 1; columns do not overlap.
    expect((L.yaxis3 as AxisSpec).domain![1]).toBeLessThan((L.yaxis as AxisSpec).domain![0]);
    expect((L.xaxis2 as AxisSpec).domain![0]).toBeGreaterThan(xa.domain![1]);
    const texts = (L.annotations ?? []).map((a) => a.text);
    expect(texts).toEqual(expect.arrayContaining(['clean', 'triggered', 'a', 'b', 'cat']));
    expect(L.showlegend).toBe(false);
    expect(L.title.text).toBe('Samples');
    expect(typeof L.width).toBe('number');
    expect(typeof L.height).toBe('number');
  });

  test('a long title widens the figure instead of being clipped', () => {
    const narrow = imageGrid({ title: 'x', images: [[grey(1)]] });
    const wide = imageGrid({ title: 'x'.repeat(80), images: [[grey(1)]] });
    expect(wide.layout.width!).toBeGreaterThan(narrow.layout.width!);
    expect(wide.layout.width!).toBeGreaterThanOrEqual(40 + 9.5 * 80);
  });

  test('rejects wrong title counts and empty grids', () => {
    expect(() => imageGrid({ title: 't', images: [[grey(1)]], rowTitles: ['a', 'b'] })).toThrow(/rowTitles/);
    expect(() => imageGrid({ title: 't', images: [] })).toThrow(/images is empty/);
  });
});
