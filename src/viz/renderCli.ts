/**
 * `npm run figures [-- [--out DIR] [--formats png,svg] [--scale N] [INPUT.json | DIR ...]]`
 *
 * With no inputs, renders the built-in demo set (synthetic numbers) to `figures/demo/`. Inputs are JSON
 * files of figure specs or directories of them (see `readFigureFile`), rendered to `figures/`.
 */
import * as path from 'path';
import { demoFigures } from './demo';
import { readFigureInputs, renderFigures, type ImageFormat } from './export';

const USAGE = `usage: npm run figures -- [--out DIR] [--formats png,svg] [--scale N] [--demo] [INPUT.json | DIR ...]
  no inputs (or --demo): render the built-in demo figures (synthetic data) to figures/demo/
  INPUT.json: a figure {data, layout}, {name, figure}, an array of those, or {figures: [...]}
  DIR: every *.json in it`;

export async function main(argv: string[], root: string = path.resolve(__dirname, '..', '..')): Promise<number> {
  let out: string | undefined;
  let formats: ImageFormat[] = ['png', 'svg'];
  let scale: number | undefined;
  let demo = false;
  const inputs: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value\n${USAGE}`);
      return v;
    };
    if (a === '--out') out = next();
    else if (a === '--formats') {
      formats = next().split(',').map((s) => s.trim()) as ImageFormat[];
      const bad = formats.filter((f) => f !== 'png' && f !== 'svg');
      if (bad.length > 0) throw new Error(`unknown format(s) ${bad.join(', ')}\n${USAGE}`);
    } else if (a === '--scale') scale = Number(next());
    else if (a === '--demo') demo = true;
    else if (a === '-h' || a === '--help') {
      console.log(USAGE);
      return 0;
    } else if (a.startsWith('-')) throw new Error(`unknown option ${a}\n${USAGE}`);
    else inputs.push(a);
  }
  if (inputs.length === 0) demo = true;
  const jobs: { figures: ReturnType<typeof demoFigures>; outDir: string }[] = [];
  if (demo) jobs.push({ figures: demoFigures(), outDir: out ? path.join(out, 'demo') : path.join(root, 'figures', 'demo') });
  if (inputs.length > 0) jobs.push({ figures: readFigureInputs(inputs), outDir: out ?? path.join(root, 'figures') });
  const t0 = Date.now();
  let n = 0;
  for (const job of jobs) {
    const files = await renderFigures(job.figures, { outDir: job.outDir, formats, scale });
    for (const f of files) console.log(`  wrote ${path.relative(process.cwd(), f)}`);
    n += files.length;
  }
  console.log(`figures: ${n} file(s) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return 0;
}
