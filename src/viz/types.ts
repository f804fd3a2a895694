/**
 * Plotly figure specs as plain, JSON-serialisable data. Only the subset of Plotly's schema that the
 * figure builders in `figures.ts` use is typed; everything else passes through the index signatures.
 * A `Figure` is what `show()` renders in a notebook and what `renderFigures()` exports to PNG/SVG.
 */

export interface TitleSpec {
  text: string;
  [key: string]: unknown;
}

export interface AxisSpec {
  title?: TitleSpec;
  range?: [number, number];
  autorange?: boolean | 'reversed';
  type?: 'linear' | 'log' | 'category' | '-';
  domain?: [number, number];
  anchor?: string;
  visible?: boolean;
  showticklabels?: boolean;
  showgrid?: boolean;
  zeroline?: boolean;
  automargin?: boolean;
  scaleanchor?: string;
  constrain?: 'range' | 'domain';
  [key: string]: unknown;
}

export interface AnnotationSpec {
  text: string;
  x: number | string;
  y: number | string;
  xref?: string;
  yref?: string;
  xanchor?: 'auto' | 'left' | 'center' | 'right';
  yanchor?: 'auto' | 'top' | 'middle' | 'bottom';
  showarrow?: boolean;
  textangle?: number;
  font?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface LayoutSpec {
  title: TitleSpec;
  xaxis?: AxisSpec;
  yaxis?: AxisSpec;
  showlegend?: boolean;
  legend?: Record<string, unknown>;
  barmode?: 'group' | 'overlay' | 'stack' | 'relative';
  width?: number;
  height?: number;
  margin?: { l?: number; r?: number; t?: number; b?: number; pad?: number };
  annotations?: AnnotationSpec[];
  /** Other axes (`xaxis2`, `yaxis7`, ...) and any other Plotly layout attribute. */
  [key: string]: unknown;
}

export interface ErrorBarSpec {
  type: 'data';
  array: (number | null)[];
  visible: boolean;
  [key: string]: unknown;
}

export interface TraceSpec {
  type: 'bar' | 'scatter' | 'heatmap' | 'image';
  name?: string;
  x?: (string | number | null)[];
  y?: (string | number | null)[];
  z?: unknown;
  error_y?: ErrorBarSpec;
  showlegend?: boolean;
  xaxis?: string;
  yaxis?: string;
  [key: string]: unknown;
}

/** A Plotly figure: `Plotly.newPlot(div, fig.data, fig.layout, fig.config)`. */
export interface Figure {
  data: TraceSpec[];
  layout: LayoutSpec;
  /** Plotly config overrides (the defaults in `html.ts` are used otherwise). */
  config?: Record<string, unknown>;
}

/** Duck-typed check used by `show()` to tell figures from tables. */
export function isFigure(x: unknown): x is Figure {
  if (typeof x !== 'object' || x === null) return false;
  const f = x as { data?: unknown; layout?: unknown };
  return Array.isArray(f.data) && typeof f.layout === 'object' && f.layout !== null;
}
