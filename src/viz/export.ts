/**
 * Static export: figure specs → PNG and SVG files, drawn by plotly.js (the local bundle) in headless
 * Chromium with `Plotly.toImage`. One browser for the whole batch.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { pathToFileURL } from 'url';
import { launchOfflineChromium } from './chromium';
import { standalonePage } from './html';
import type { Figure } from './types';

export type ImageFormat = 'png' | 'svg';

export interface NamedFigure {
  /** File name stem; characters outside [A-Za-z0-9._-] become "_". */
  name: string;
  figure: Figure;
}

export interface RenderOptions {
  outDir: string;
  formats?: ImageFormat[];
  /** Size in CSS pixels when the layout does not fix it (defaults 900 × 500). */
  width?: number;
  height?: number;
  /** PNG pixel ratio (default 2). */
  scale?: number;
  executablePath?: string;
}

export function safeFileStem(name: string): string {
  const s = name.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._]+/, '');
  return s === '' ? 'figure' : s;
}

/** Decode a `Plotly.toImage` data URL to file bytes. */
export function decodeDataUrl(url: string): Buffer {
  const comma = url.indexOf(',');
  if (!url.startsWith('data:') || comma < 0) throw new Error(`not a data URL: ${url.slice(0, 40)}...`);
  const meta = url.slice(5, comma);
  const body = url.slice(comma + 1);
  return meta.endsWith(';base64') ? Buffer.from(body, 'base64') : Buffer.from(decodeURIComponent(body), 'utf8');
}

/** Render every figure in every format; returns the written paths. */
export async function renderFigures(figures: NamedFigure[], opts: RenderOptions): Promise<string[]> {
  const formats = opts.formats ?? ['png', 'svg'];
  const names = new Set<string>();
  for (const f of figures) {
    const stem = safeFileStem(f.name);
    if (names.has(stem)) throw new Error(`renderFigures: two figures named "${stem}"`);
    names.add(stem);
  }
  fs.mkdirSync(opts.outDir, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-figures-'));
  const browser = await launchOfflineChromium({ executablePath: opts.executablePath });
  const written: string[] = [];
  try {
    const pageFile = path.join(tmp, 'plotly.html');
    fs.writeFileSync(pageFile, standalonePage('figure export', ''));
    const page = await browser.context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(pathToFileURL(pageFile).href, { waitUntil: 'load' });
    await page.waitForFunction(() => typeof (window as unknown as { Plotly?: unknown }).Plotly !== 'undefined');
    for (const f of figures) {
      const width = typeof f.figure.layout.width === 'number' ? f.figure.layout.width : (opts.width ?? 900);
      const height = typeof f.figure.layout.height === 'number' ? f.figure.layout.height : (opts.height ?? 500);
      for (const format of formats) {
        const url = await page.evaluate(
          async ({ fig, format, width, height, scale }) => {
            const P = (window as unknown as { Plotly: { toImage(f: unknown, o: unknown): Promise<string> } }).Plotly;
            return P.toImage(fig, { format, width, height, scale });
          },
          { fig: { data: f.figure.data, layout: f.figure.layout }, format, width, height, scale: format === 'png' ? (opts.scale ?? 2) : 1 },
        );
        const file = path.join(opts.outDir, `${safeFileStem(f.name)}.${format}`);
        fs.writeFileSync(file, decodeDataUrl(url));
        written.push(file);
      }
    }
    if (errors.length > 0) throw new Error(`renderFigures: page errors: ${errors.join('; ')}`);
    if (browser.blocked.length > 0) throw new Error(`renderFigures: blocked network requests: ${browser.blocked.join(', ')}`);
  } finally {
    await browser.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return written;
}

/**
 * Figures from a JSON file. Accepted shapes: a figure `{data, layout}` (named after the file),
 * `{name, figure}`, an array of `{name, figure}`, or `{figures: [{name, figure}, ...]}`.
 */
export function readFigureFile(file: string): NamedFigure[] {
  const json = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
  const stem = path.basename(file).replace(/\.json$/i, '');
  const isFig = (x: unknown): x is Figure =>
    typeof x === 'object' && x !== null && Array.isArray((x as Figure).data) && typeof (x as Figure).layout === 'object';
  const named = (x: unknown, i: number | undefined): NamedFigure => {
    if (isFig(x)) return { name: i === undefined ? stem : `${stem}-${i + 1}`, figure: x };
    const o = x as { name?: unknown; figure?: unknown };
    if (typeof o === 'object' && o !== null && isFig(o.figure)) {
      return { name: typeof o.name === 'string' ? o.name : i === undefined ? stem : `${stem}-${i + 1}`, figure: o.figure };
    }
    throw new Error(`${file}: entry ${i ?? 0} is neither a figure {data, layout} nor {name, figure}`);
  };
  if (Array.isArray(json)) return json.map((x, i) => named(x, i));
  const figs = (json as { figures?: unknown }).figures;
  if (Array.isArray(figs)) return figs.map((x, i) => named(x, i));
  return [named(json, undefined)];
}

/** Figures from JSON files and/or directories of JSON files (non-recursive, sorted). */
export function readFigureInputs(inputs: string[]): NamedFigure[] {
  const out: NamedFigure[] = [];
  for (const input of inputs) {
    const st = fs.statSync(input);
    const files = st.isDirectory()
      ? fs
          .readdirSync(input)
          .filter((f) => f.toLowerCase().endsWith('.json'))
          .sort()
          .map((f) => path.join(input, f))
      : [input];
    for (const f of files) out.push(...readFigureFile(f));
  }
  return out;
}
