/**
 * `tune`: a defense's grid on the tuning models (experiment/tuning.ts), the chosen point by the protocol's
 * rule, and the results note appended to docs/tuning/<defense>.md (or --note).
 */
import * as fs from 'fs';
import * as path from 'path';
import { CommandSpec, ParsedArgs, UsageError } from './args';
import { Command } from './command';

const tuneSpec: CommandSpec = {
  name: 'tune',
  summary: "a defense's settings grid on the tuning models (seed 100, targets 1 and 7, BadNets and Blended), picked by claim 1's rule",
  options: [
    { name: 'defense', type: 'string', help: 'defense to tune (FT, EP, ANP, BAU, SAM, FST, BTI, PAM)' },
    { name: 'grid', type: 'string', help: 'JSON object of field → list of values, e.g. \'{"alpha":[0.001,0.01,0.1]}\'' },
    { name: 'fixed', type: 'string', help: 'JSON object of settings held fixed over the grid' },
    { name: 'note', type: 'string', help: 'results note to append to (default docs/tuning/<defense>.md; "-" = print only)' },
    { name: 'quick', type: 'flag', help: 'shrunk tuning models (tests of the command itself; never to choose defaults)' },
    { name: 'runs-dir', type: 'string', help: 'artifact cache directory', default: 'runs' },
    { name: 'data-dir', type: 'string', help: 'directory holding the dataset files (else the standard places)' },
    { name: 'engine', type: 'string', help: 'force the compute engine (default: native when its addon loaded, else wasm)', choices: ['native', 'wasm'] },
    { name: 'threads', type: 'int', help: 'native engine threads (default 1)' },
    { name: 'help', type: 'flag', help: 'show this help' },
  ],
};

function json(v: unknown, what: string): Record<string, unknown> {
  if (v === undefined) return {};
  let out: unknown;
  try {
    out = JSON.parse(String(v));
  } catch (e) {
    throw new UsageError(`tune: --${what} must be JSON (${(e as Error).message})`);
  }
  if (!out || typeof out !== 'object' || Array.isArray(out)) throw new UsageError(`tune: --${what} must be a JSON object`);
  return out as Record<string, unknown>;
}

export async function runTune(a: ParsedArgs): Promise<number> {
  const { getDefense } = await import('../defenses/registry');
  const { tuneDefense, tuningMarkdown, SELECTION_RULE } = await import('../experiment/tuning');
  if (a.defense === undefined) throw new UsageError('tune: --defense is required');
  let name: string;
  try { name = getDefense(a.defense as string).name; } catch (e) { throw new UsageError(`tune: ${(e as Error).message}`); }
  const grid = json(a.grid, 'grid') as Record<string, unknown[]>;
  const fixed = json(a.fixed, 'fixed');
  const r = await tuneDefense(name, grid, { runsDir: a.runsDir as string, dataDir: a.dataDir as string | undefined, quick: !!a.quick },
    { fixed, log: (s) => console.error(s) });
  const { describeEngine, engineInfo } = await import('../engine/backend');
  const info = engineInfo();
  const md = tuningMarkdown(name, grid, fixed, r, info ? describeEngine(info) : undefined);
  console.log(md);
  console.log(`chosen by the rule (${SELECTION_RULE}): ${JSON.stringify(r.points[r.chosen].overrides)}`);
  const note = (a.note as string | undefined) ?? path.join('docs', 'tuning', `${name.toLowerCase()}.md`);
  if (note !== '-' && !a.quick) {
    fs.mkdirSync(path.dirname(note), { recursive: true });
    if (!fs.existsSync(note)) fs.writeFileSync(note, `# ${name}: tuning runs\n\nWritten by \`superficial-safety tune\` (src/experiment/tuning.ts); newest last.\n\n`);
    fs.appendFileSync(note, `${md}\n`);
    console.error(`appended to ${note}`);
  }
  return 0;
}

export const tuneCommand: Command = { spec: tuneSpec, needsEngine: true, run: runTune };
