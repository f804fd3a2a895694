/**
 * Scatter plots with labelled points: one measured quantity against another per method (BEC against the ASR
 * an attacker reaches). Pure data like the builders in figures.ts.
 */
import type { Figure, TraceSpec } from './types';

export interface ScatterSeries {
  name: string;
  x: ArrayLike<number | null>;
  y: ArrayLike<number | null>;
  /** Each point's label (e.g. the method): written next to it, or only on hover when `hoverOnly`. */
  labels?: string[];
  hoverOnly?: boolean;
  /** Plotly marker symbol, e.g. 'circle', 'diamond-open'. */
  symbol?: string;
  color?: string;
}

export interface ScatterSpec {
  title: string;
  xTitle: string;
  yTitle: string;
  series: ScatterSeries[];
  xRange?: [number, number];
  yRange?: [number, number];
  height?: number;
}

const numbers = (v: ArrayLike<number | null>) => Array.from(v, (x) => (x === null || !Number.isFinite(x) ? null : x));

export function scatterPlot(spec: ScatterSpec): Figure {
  if (spec.series.length === 0) throw new Error('scatterPlot: series is empty');
  const data: TraceSpec[] = spec.series.map((s) => {
    if (s.x.length !== s.y.length) throw new Error(`scatterPlot: series "${s.name}" has ${s.x.length} x and ${s.y.length} y values`);
    if (s.labels && s.labels.length !== s.x.length) throw new Error(`scatterPlot: series "${s.name}" has ${s.labels.length} labels for ${s.x.length} points`);
    const marker: Record<string, unknown> = { size: 10 };
    if (s.symbol) marker.symbol = s.symbol;
    if (s.color) marker.color = s.color;
    return {
      type: 'scatter', name: s.name, x: numbers(s.x), y: numbers(s.y), marker, showlegend: true,
      mode: s.labels && !s.hoverOnly ? 'markers+text' : 'markers',
      ...(s.labels ? { text: [...s.labels], textposition: 'top center', textfont: { size: 10 } } : {}),
      ...(s.labels && s.hoverOnly ? { hoverinfo: 'x+y+text' } : {}),
    };
  });
  return {
    data,
    layout: {
      title: { text: spec.title },
      font: { size: 13 },
      margin: { l: 70, r: 30, t: 80, b: 70 },
      xaxis: { title: { text: spec.xTitle }, automargin: true, ...(spec.xRange ? { range: [...spec.xRange] as [number, number] } : {}) },
      yaxis: { title: { text: spec.yTitle }, automargin: true, ...(spec.yRange ? { range: [...spec.yRange] as [number, number] } : {}) },
      showlegend: true,
      height: spec.height ?? 480,
    },
  };
}
