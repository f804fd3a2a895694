/**
 * Figure builders: pure functions from numbers to Plotly figure specs (`Figure`, plain data). They do not
 * touch the DOM, the notebook or the file system, so they are unit-tested on their traces, axis titles and
 * ranges, and the same spec is shown inline in a notebook (`show`) and exported to PNG/SVG
 * (`renderFigures`). Every chart has axis titles and a legend (for heat maps: a titled colour bar; image
 * grids have row and column titles instead).
 */
import type { AnnotationSpec, AxisSpec, Figure, LayoutSpec, TraceSpec } from './types';

/** A numeric range for an axis, `[min, max]` with `min < max`. */
export type Range = [number, number];

function fail(fn: string, msg: string): never {
  throw new Error(`${fn}: ${msg}`);
}

function checkLength(fn: string, what: string, arr: ArrayLike<unknown>, n: number): void {
  if (arr.length !== n) fail(fn, `${what} has ${arr.length} entries, expected ${n}`);
}

function checkRange(fn: string, what: string, r: Range | undefined): void {
  if (r === undefined) return;
  if (!Array.isArray(r) || r.length !== 2 || !Number.isFinite(r[0]) || !Number.isFinite(r[1]) || !(r[0] < r[1])) {
    fail(fn, `${what} must be [min, max] with finite min < max, got ${JSON.stringify(r)}`);
  }
}

/** Plain number array; NaN/±Infinity become null so that the spec stays valid JSON (Plotly shows a gap). */
function numbers(values: ArrayLike<number | null>): (number | null)[] {
  return Array.from(values, (v) => (v === null || !Number.isFinite(v) ? null : v));
}

function axis(title: string, extra: AxisSpec = {}): AxisSpec {
  return { title: { text: title }, automargin: true, ...extra };
}

function baseLayout(title: string, extra: Omit<LayoutSpec, 'title'>): LayoutSpec {
  return {
    title: { text: title },
    font: { size: 13 },
    margin: { l: 70, r: 30, t: 60, b: 70 },
    ...extra,
  };
}

function errorBars(fn: string, name: string, errors: ArrayLike<number | null> | undefined, n: number) {
  if (errors === undefined) return {};
  checkLength(fn, `errors of series "${name}"`, errors, n);
  return { error_y: { type: 'data' as const, array: numbers(errors), visible: true } };
}

// ---------------------------------------------------------------------------------------------------
// Grouped bars

export interface BarSeries {
  /** Legend entry, e.g. "FT-SAM (after attack)". */
  name: string;
  /** One value per category; null = missing (no bar). */
  values: ArrayLike<number | null>;
  /** Optional symmetric error bars (e.g. std over seeds), one per category. */
  errors?: ArrayLike<number | null>;
  /** Optional fixed colour (CSS colour string). */
  color?: string;
  /** Hatch the bars (e.g. to mark "after" next to a solid "before" of the same colour). */
  hatched?: boolean;
}

export interface GroupedBarsSpec {
  /** Groups along the x axis, e.g. the attacks. */
  categories: string[];
  /** One bar per category per series, e.g. one series per method or per before/after. */
  series: BarSeries[];
  xTitle: string;
  yTitle: string;
  title: string;
  /** Fixed y range, e.g. [0, 100] for percentages. Autoscaled when absent. */
  yRange?: Range;
  legendTitle?: string;
  height?: number;
}

/** Bars grouped by category, one colour per series: ASR / C-Acc per method and attack, before/after. */
export function groupedBars(spec: GroupedBarsSpec): Figure {
  const fn = 'groupedBars';
  const { categories, series } = spec;
  if (categories.length === 0) fail(fn, 'categories is empty');
  if (series.length === 0) fail(fn, 'series is empty');
  checkRange(fn, 'yRange', spec.yRange);
  const data: TraceSpec[] = series.map((s) => {
    checkLength(fn, `values of series "${s.name}"`, s.values, categories.length);
    const marker: Record<string, unknown> = {};
    if (s.color !== undefined) marker.color = s.color;
    if (s.hatched) marker.pattern = { shape: '/', solidity: 0.4 };
    return {
      type: 'bar',
      name: s.name,
      x: [...categories],
      y: numbers(s.values),
      ...errorBars(fn, s.name, s.errors, categories.length),
      ...(Object.keys(marker).length > 0 ? { marker } : {}),
      showlegend: true,
    };
  });
  return {
    data,
    layout: baseLayout(spec.title, {
      barmode: 'group',
      xaxis: axis(spec.xTitle, { type: 'category' }),
      yaxis: axis(spec.yTitle, spec.yRange ? { range: [...spec.yRange] as Range } : {}),
      showlegend: true,
      legend: spec.legendTitle ? { title: { text: spec.legendTitle } } : {},
      height: spec.height ?? 450,
    }),
  };
}

// ---------------------------------------------------------------------------------------------------
// Line plots

export interface LineSeries {
  name: string;
  x: ArrayLike<number>;
  y: ArrayLike<number | null>;
  /** Optional symmetric error bars, one per point. */
  errors?: ArrayLike<number | null>;
  color?: string;
  dash?: 'solid' | 'dash' | 'dot' | 'dashdot';
}

export interface LinePlotSpec {
  series: LineSeries[];
  xTitle: string;
  yTitle: string;
  title: string;
  yRange?: Range;
  xRange?: Range;
  /** Draw point markers as well as lines (default true). */
  markers?: boolean;
  legendTitle?: string;
  height?: number;
}

/** Several curves against a shared x axis: a metric vs. interpolation coefficient, vs. epoch, ... */
export function linePlot(spec: LinePlotSpec): Figure {
  const fn = 'linePlot';
  if (spec.series.length === 0) fail(fn, 'series is empty');
  checkRange(fn, 'yRange', spec.yRange);
  checkRange(fn, 'xRange', spec.xRange);
  const mode = spec.markers === false ? 'lines' : 'lines+markers';
  const data: TraceSpec[] = spec.series.map((s) => {
    checkLength(fn, `y of series "${s.name}"`, s.y, s.x.length);
    const line: Record<string, unknown> = {};
    if (s.color !== undefined) line.color = s.color;
    if (s.dash !== undefined) line.dash = s.dash;
    return {
      type: 'scatter',
      mode,
      name: s.name,
      x: numbers(s.x),
      y: numbers(s.y),
      ...errorBars(fn, s.name, s.errors, s.x.length),
      ...(Object.keys(line).length > 0 ? { line } : {}),
      showlegend: true,
    };
  });
  return {
    data,
    layout: baseLayout(spec.title, {
      xaxis: axis(spec.xTitle, spec.xRange ? { range: [...spec.xRange] as Range } : {}),
      yaxis: axis(spec.yTitle, spec.yRange ? { range: [...spec.yRange] as Range } : {}),
      showlegend: true,
      legend: spec.legendTitle ? { title: { text: spec.legendTitle } } : {},
      height: spec.height ?? 450,
    }),
  };
}

// ---------------------------------------------------------------------------------------------------
// Heat maps

export interface HeatmapSpec {
  /** Row-major matrix: z[i][j] is the cell at row y[i], column x[j] (confusion: true i, predicted j). */
  z: ArrayLike<number | null>[];
  /** Column labels (left to right). */
  x: (string | number)[];
  /** Row labels (top to bottom: the first row is drawn at the top, as in a printed matrix). */
  y: (string | number)[];
  title: string;
  xTitle: string;
  yTitle: string;
  colorbarTitle: string;
  /** Write each cell's value in the cell. */
  annotate?: boolean;
  /** Decimals of the annotations (default: 0 when every value is an integer, else 2). */
  digits?: number;
  /** Fixed colour scale range. */
  zRange?: Range;
  /** Plotly colour scale: a name or [[0, colour], ..., [1, colour]] (default: white → dark blue). */
  colorscale?: string | [number, string][];
  height?: number;
  width?: number;
}

/**
 * ColorBrewer "Blues": light for low, dark for high (Plotly's built-in 'Blues' runs the other way, so a
 * confusion matrix would show its diagonal pale).
 */
export const SEQUENTIAL_BLUES: [number, string][] = [
  [0, '#f7fbff'],
  [0.125, '#deebf7'],
  [0.25, '#c6dbef'],
  [0.375, '#9ecae1'],
  [0.5, '#6baed6'],
  [0.625, '#4292c6'],
  [0.75, '#2171b5'],
  [0.875, '#08519c'],
  [1, '#08306b'],
];

/** A labelled matrix with a titled colour bar, e.g. a confusion matrix. */
export function heatmap(spec: HeatmapSpec): Figure {
  const fn = 'heatmap';
  checkLength(fn, 'z (rows)', spec.z, spec.y.length);
  if (spec.x.length === 0 || spec.y.length === 0) fail(fn, 'x and y must be non-empty');
  spec.z.forEach((row, i) => checkLength(fn, `z[${i}]`, row, spec.x.length));
  checkRange(fn, 'zRange', spec.zRange);
  const z = spec.z.map((row) => numbers(row));
  const trace: TraceSpec = {
    type: 'heatmap',
    z,
    x: spec.x.map(String),
    y: spec.y.map(String),
    colorscale: spec.colorscale ?? SEQUENTIAL_BLUES,
    colorbar: { title: { text: spec.colorbarTitle } },
    xgap: 1,
    ygap: 1,
    hovertemplate: `${spec.yTitle}: %{y}<br>${spec.xTitle}: %{x}<br>${spec.colorbarTitle}: %{z}<extra></extra>`,
  };
  if (spec.zRange) {
    trace.zmin = spec.zRange[0];
    trace.zmax = spec.zRange[1];
  }
  if (spec.annotate) {
    const all = z.flat().filter((v): v is number => v !== null);
    const digits = spec.digits ?? (all.every((v) => Number.isInteger(v)) ? 0 : 2);
    trace.text = z.map((row) => row.map((v) => (v === null ? '' : v.toFixed(digits))));
    trace.texttemplate = '%{text}';
  }
  return {
    data: [trace],
    layout: baseLayout(spec.title, {
      xaxis: axis(spec.xTitle, { type: 'category', constrain: 'domain' }),
      yaxis: axis(spec.yTitle, { type: 'category', autorange: 'reversed' }),
      height: spec.height ?? 520,
      ...(spec.width !== undefined ? { width: spec.width } : {}),
    }),
  };
}

// ---------------------------------------------------------------------------------------------------
// Image grids

/**
 * One image, channel-last (HWC, row-major), as TF.js tensors lay them out (`tensor.dataSync()` of a
 * [h, w, c] tensor). Scale is given by the array type: `Uint8Array` (and `Uint8ClampedArray`) hold
 * 0..255, `Float32Array` holds 0..1 (values outside are clamped). `channels` is 1 (grey) or 3 (RGB).
 */
export interface GridImage {
  pixels: Uint8Array | Uint8ClampedArray | Float32Array;
  height: number;
  width: number;
  channels: 1 | 3;
  /** Small caption under the image, e.g. the (predicted) class. */
  label?: string;
}

export interface ImageGridSpec {
  /** Rows of images; rows may be shorter than the longest row. */
  images: GridImage[][];
  /** One title per row, drawn left of the row (e.g. "clean", "BadNets", "Blended"). */
  rowTitles?: string[];
  /** One title per column, drawn above the first row. */
  colTitles?: string[];
  title: string;
  /** Edge length of one image cell in pixels (default 96). */
  cellSize?: number;
}

/** RGB pixel matrix `[h][w][3]` with 0..255 integers, the `z` of a Plotly `image` trace. */
export function imageToRgb(img: GridImage): number[][][] {
  const fn = 'imageToRgb';
  const { height: h, width: w, channels: c, pixels } = img;
  if (!(Number.isInteger(h) && h > 0 && Number.isInteger(w) && w > 0)) fail(fn, `bad size ${h}x${w}`);
  if (c !== 1 && c !== 3) fail(fn, `channels must be 1 or 3, got ${String(c)}`);
  checkLength(fn, 'pixels', pixels, h * w * c);
  const unit = pixels instanceof Float32Array;
  const to255 = (v: number) => {
    const s = unit ? v * 255 : v;
    return Number.isFinite(s) ? Math.max(0, Math.min(255, Math.round(s))) : 0;
  };
  const rows: number[][][] = [];
  for (let i = 0; i < h; i++) {
    const row: number[][] = [];
    for (let j = 0; j < w; j++) {
      const o = (i * w + j) * c;
      if (c === 1) {
        const g = to255(pixels[o]);
        row.push([g, g, g]);
      } else {
        row.push([to255(pixels[o]), to255(pixels[o + 1]), to255(pixels[o + 2])]);
      }
    }
    rows.push(row);
  }
  return rows;
}

/**
 * A grid of images (clean vs. triggered vs. perturbed samples): one Plotly `image` trace per cell, each
 * on its own hidden pair of axes, with row titles on the left, column titles on top and optional
 * per-image labels underneath. The figure has a fixed pixel size so that cells stay square.
 */
export function imageGrid(spec: ImageGridSpec): Figure {
  const fn = 'imageGrid';
  const R = spec.images.length;
  if (R === 0) fail(fn, 'images is empty');
  const C = Math.max(...spec.images.map((r) => r.length));
  if (C === 0) fail(fn, 'every row is empty');
  if (spec.rowTitles) checkLength(fn, 'rowTitles', spec.rowTitles, R);
  if (spec.colTitles) checkLength(fn, 'colTitles', spec.colTitles, C);

  const cell = spec.cellSize ?? 96;
  const gap = 8;
  const hasLabels = spec.images.some((r) => r.some((im) => im.label !== undefined && im.label !== ''));
  const labelH = hasLabels ? 18 : 0;
  const W = C * cell + (C - 1) * gap;
  const H = R * (cell + labelH) + (R - 1) * gap;
  const longestRowTitle = Math.max(0, ...(spec.rowTitles ?? []).map((t) => t.length));
  const margin = {
    l: spec.rowTitles ? Math.max(40, 16 + 8 * longestRowTitle) : 20,
    r: 20,
    t: 60 + (spec.colTitles ? 24 : 0),
    b: 20,
  };
  // A title wider than the grid would be clipped: widen the figure, keeping the grid centred.
  const titleWidth = 40 + 9.5 * spec.title.length;
  const extra = Math.max(0, titleWidth - (margin.l + W + margin.r));
  margin.l += Math.ceil(extra / 2);
  margin.r += Math.ceil(extra / 2);

  const data: TraceSpec[] = [];
  const layout: LayoutSpec = baseLayout(spec.title, {
    showlegend: false,
    width: margin.l + W + margin.r,
    height: margin.t + H + margin.b,
    margin,
    plot_bgcolor: 'white',
  });
  const annotations: AnnotationSpec[] = [];
  const colCenter = (j: number) => (j * (cell + gap) + cell / 2) / W;
  const rowTop = (i: number) => 1 - (i * (cell + labelH + gap)) / H;
  const rowBottom = (i: number) => 1 - (i * (cell + labelH + gap) + cell) / H;

  spec.images.forEach((row, i) => {
    row.forEach((img, j) => {
      const k = i * C + j + 1;
      const xa = k === 1 ? 'x' : `x${k}`;
      const ya = k === 1 ? 'y' : `y${k}`;
      const hidden = { visible: false, showgrid: false, zeroline: false, showticklabels: false };
      layout[k === 1 ? 'xaxis' : `xaxis${k}`] = {
        ...hidden,
        domain: [(j * (cell + gap)) / W, (j * (cell + gap) + cell) / W],
        anchor: ya,
        range: [-0.5, img.width - 0.5],
      } satisfies AxisSpec;
      layout[k === 1 ? 'yaxis' : `yaxis${k}`] = {
        ...hidden,
        domain: [rowBottom(i), rowTop(i)],
        anchor: xa,
        range: [img.height - 0.5, -0.5],
        scaleanchor: xa,
      } satisfies AxisSpec;
      const where = [spec.rowTitles?.[i], spec.colTitles?.[j]].filter(Boolean).join(' / ');
      data.push({
        type: 'image',
        z: imageToRgb(img),
        xaxis: xa,
        yaxis: ya,
        name: where || `row ${i + 1}, column ${j + 1}`,
        hovertemplate: `${where ? `${where}<br>` : ''}(%{x}, %{y}) = %{color}<extra></extra>`,
      });
      if (img.label !== undefined && img.label !== '') {
        annotations.push({
          text: img.label,
          x: colCenter(j),
          y: rowBottom(i),
          xref: 'paper',
          yref: 'paper',
          xanchor: 'center',
          yanchor: 'top',
          showarrow: false,
          font: { size: 11 },
        });
      }
    });
  });
  (spec.colTitles ?? []).forEach((t, j) =>
    annotations.push({
      text: t,
      x: colCenter(j),
      y: 1,
      xref: 'paper',
      yref: 'paper',
      xanchor: 'center',
      yanchor: 'bottom',
      yshift: 4,
      showarrow: false,
    }),
  );
  (spec.rowTitles ?? []).forEach((t, i) =>
    annotations.push({
      text: t,
      x: 0,
      y: (rowTop(i) + rowBottom(i)) / 2,
      xref: 'paper',
      yref: 'paper',
      xanchor: 'right',
      yanchor: 'middle',
      xshift: -8,
      showarrow: false,
    }),
  );
  layout.annotations = annotations;
  return { data, layout };
}
