/**
 * What a notebook needs to know about how it is being run, and its standard first cell.
 */
import * as path from 'path';
import type { EngineInfo } from '../engine/backend';
import { loadPlotly, setDisplay } from '../viz/show';

export { setDisplay };

/**
 * QUICK mode (`QUICK=1`, set by `npm run test:notebooks` and passed through nbconvert to the kernel):
 * notebooks shrink data and epochs so that all of them finish in minutes. "", "0", "false", "no" = off.
 */
export function isQuick(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = (env.QUICK ?? '').trim().toLowerCase();
  return v !== '' && v !== '0' && v !== 'false' && v !== 'no';
}

/** Repository root (this file is dist/notebook/env.js or src/notebook/env.ts). */
export function projectRoot(): string {
  return path.resolve(__dirname, '..', '..');
}

export interface NotebookContext {
  quick: boolean;
  root: string;
}

/**
 * A notebook's set-up, at the top of its first cell after the build check: emits the inlined plotly.js bundle (always, so that re-running
 * the notebook from the top keeps it in the saved outputs) and reports QUICK mode.
 */
export function setupNotebook(): NotebookContext {
  const quick = isQuick();
  loadPlotly({ force: true });
  const line = `superficial-safety notebook · QUICK mode ${quick ? 'ON (reduced data and epochs)' : 'off'} · Node ${process.version}`;
  console.log(line);
  return { quick, root: projectRoot() };
}

export interface NotebookSession extends NotebookContext {
  engine: EngineInfo;
}

/**
 * The set-up of every notebook that computes: `setupNotebook()`, then the engine started and named in one
 * line (the line the CLI and the report record). A notebook that only draws can call `setupNotebook()` alone.
 */
export async function startNotebook(): Promise<NotebookSession> {
  const nb = setupNotebook();
  // Loaded here, not at the top: the notebook runner and kernel set-up import this module and need no TF.js.
  const { describeEngine, initEngine } = await import('../engine/backend');
  const engine = await initEngine();
  console.log(describeEngine(engine));
  return { ...nb, engine };
}
