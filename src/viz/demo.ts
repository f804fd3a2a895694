/**
 * Demo figures and a demo table built from SYNTHETIC numbers, to exercise the plotting platform
 * (`npm run figures` with no input). They are not results and every title says so.
 */
import { groupedBars, heatmap, imageGrid, linePlot, type GridImage } from './figures';
import type { NamedFigure } from './export';
import type { ResultRow } from './tables';

const TAG = '(synthetic demo data, not results)';

/** A 28×28 grey "garment-like" blob with deterministic texture; `variant` changes its shape. */
export function syntheticImage(variant: number, size = 28): Float32Array {
  const px = new Float32Array(size * size);
  const cx = size / 2;
  const cy = size / 2;
  const rx = size * (0.25 + 0.05 * (variant % 3));
  const ry = size * (0.38 - 0.04 * (variant % 2));
  for (let i = 0; i < size; i++) {
    for (let j = 0; j < size; j++) {
      const d = ((j - cx) / rx) ** 2 + ((i - cy) / ry) ** 2;
      const tex = 0.15 * Math.sin((i * (variant + 2) + j * 3) * 0.7);
      px[i * size + j] = d < 1 ? Math.min(1, 0.55 + 0.3 * (1 - d) + tex) : 0;
    }
  }
  return px;
}

/** A copy with a white 3×3 patch in the bottom-right corner (BadNets-style trigger). */
export function withPatch(px: Float32Array, size = 28): Float32Array {
  const out = px.slice();
  for (let i = size - 4; i < size - 1; i++) for (let j = size - 4; j < size - 1; j++) out[i * size + j] = 1;
  return out;
}

/** A copy blended with a fixed stripe pattern (Blended-style trigger). */
export function withBlend(px: Float32Array, alpha = 0.2, size = 28): Float32Array {
  const out = px.slice();
  for (let i = 0; i < size; i++) for (let j = 0; j < size; j++) {
    const k = i * size + j;
    out[k] = (1 - alpha) * out[k] + alpha * ((i + j) % 4 < 2 ? 1 : 0);
  }
  return out;
}

export function demoResultRows(): ResultRow[] {
  const methods = ['No defense', 'FT', 'FT-SAM', 'PAM'];
  const attacks = ['BadNets', 'Blended'];
  const rows: ResultRow[] = [];
  methods.forEach((method, m) =>
    attacks.forEach((attack, a) => {
      rows.push({ method, attack, metric: 'C-Acc', value: 91.2 - 0.8 * m - 0.3 * a, std: 0.2 + 0.05 * m });
      rows.push({ method, attack, metric: 'ASR', value: m === 0 ? 99.1 - a : 6.3 + 2.1 * m + 3 * a, std: 0.5 + 0.1 * m });
    }),
  );
  return rows;
}

export function demoFigures(): NamedFigure[] {
  const alphas = Array.from({ length: 11 }, (_, i) => i / 10);
  const classes = ['T-shirt', 'Trouser', 'Pullover', 'Dress', 'Coat'];
  const confusion = classes.map((_, i) => classes.map((__, j) => (i === j ? 180 - 7 * i : (i * 7 + j * 3) % 11)));
  const clean = [0, 1, 2, 3].map((v) => syntheticImage(v));
  const img = (px: Float32Array, label?: string): GridImage => ({ pixels: px, height: 28, width: 28, channels: 1, label });
  return [
    {
      name: 'demo-grouped-bars',
      figure: groupedBars({
        title: `ASR before / after re-tuning ${TAG}`,
        categories: ['BadNets', 'Blended', 'SSBA', 'LC'],
        series: [
          { name: 'FT-SAM (after defense)', values: [4.1, 7.9, 6.2, 3.3], errors: [0.8, 1.1, 0.9, 0.6], color: '#1f77b4' },
          { name: 'FT-SAM (after re-tuning)', values: [88.0, 79.5, 83.1, 71.9], errors: [2.1, 3.0, 2.4, 4.2], color: '#1f77b4', hatched: true },
          { name: 'PAM (after defense)', values: [3.0, 5.2, 4.4, 2.8], errors: [0.5, 0.9, 0.7, 0.4], color: '#d62728' },
          { name: 'PAM (after re-tuning)', values: [9.7, 12.4, 10.8, 6.1], errors: [1.4, 1.9, 1.6, 1.0], color: '#d62728', hatched: true },
        ],
        xTitle: 'Attack',
        yTitle: 'Attack success rate (%)',
        yRange: [0, 100],
      }),
    },
    {
      name: 'demo-line-plot',
      figure: linePlot({
        title: `Metric along the linear path between two models ${TAG}`,
        series: [
          { name: 'C-Acc (%)', x: alphas, y: alphas.map((a) => 91 - 30 * a * (1 - a)) },
          { name: 'ASR (%)', x: alphas, y: alphas.map((a) => 99 / (1 + Math.exp(-12 * (a - 0.5)))), errors: alphas.map(() => 2), dash: 'dash' },
        ],
        xTitle: 'Interpolation coefficient α',
        yTitle: 'Rate (%)',
        yRange: [0, 100],
      }),
    },
    {
      name: 'demo-heatmap',
      figure: heatmap({
        title: `Confusion matrix ${TAG}`,
        z: confusion,
        x: classes,
        y: classes,
        xTitle: 'Predicted class',
        yTitle: 'True class',
        colorbarTitle: 'Count',
        annotate: true,
      }),
    },
    {
      name: 'demo-image-grid',
      figure: imageGrid({
        title: `Clean vs. triggered samples ${TAG}`,
        images: [
          clean.map((px, i) => img(px, `class ${i}`)),
          clean.map((px) => img(withPatch(px), 'target 0')),
          clean.map((px) => img(withBlend(px), 'target 0')),
        ],
        rowTitles: ['clean', 'BadNets', 'Blended'],
        colTitles: ['sample 1', 'sample 2', 'sample 3', 'sample 4'],
      }),
    },
  ];
}
