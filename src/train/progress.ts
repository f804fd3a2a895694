/**
 * Progress reporting for long runs: a redrawn bar on a terminal, one output line that keeps updating in a
 * notebook (a line per step or per epoch there would fill a cell with hundreds), one compact line per
 * epoch elsewhere (CI logs), nothing when silent.
 */
import { newNotebookDisplay, type TextDisplay } from '../io/display';

export type ProgressMode = 'auto' | 'bar' | 'lines' | 'silent';

export interface Progress {
  step(done: number, total: number, info: string): void;
  epoch(line: string): void;
  done(): void;
}

function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${s.toFixed(0)}s`;
  return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
}

/**
 * In a tslab kernel, 'auto' and 'lines' draw into one updating output (`display`, replaceable for tests);
 * 'bar' and 'silent' behave as everywhere else.
 */
export function createProgress(label: string, mode: ProgressMode = 'auto',
  write: (s: string) => void = (s) => process.stderr.write(s),
  display: () => TextDisplay | undefined = newNotebookDisplay): Progress {
  const out = mode === 'auto' || mode === 'lines' ? display() : undefined;
  if (out) return displayProgress(label, out);
  const resolved = mode === 'auto' ? (process.stderr.isTTY && !process.env.CI ? 'bar' : 'lines') : mode;
  const start = Date.now();
  let lastDraw = 0;
  let drawn = false;
  return {
    step(done, total, info) {
      if (resolved !== 'bar') return;
      const now = Date.now();
      if (now - lastDraw < 100 && done < total) return;
      lastDraw = now;
      const frac = total > 0 ? done / total : 1;
      const width = 24;
      const filled = Math.round(frac * width);
      const elapsed = (now - start) / 1000;
      const eta = frac > 0 ? elapsed * (1 - frac) / frac : Infinity;
      write(`\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(frac * 100).toFixed(0)}% ` +
        `${info} ${formatSeconds(elapsed)} eta ${formatSeconds(eta)}   `);
      drawn = true;
    },
    epoch(line) {
      if (resolved === 'silent') return;
      if (drawn) write('\r\x1b[K');
      drawn = false;
      write(`${label} ${line}\n`);
    },
    done() {
      if (drawn) write('\r\x1b[K');
      drawn = false;
    },
  };
}

function bar(frac: number, width = 24): string {
  const filled = Math.round(Math.max(0, Math.min(1, frac)) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

function displayProgress(label: string, out: TextDisplay): Progress {
  const start = Date.now();
  let lastDraw = 0;
  let lastEpoch = '';
  const elapsed = () => formatSeconds((Date.now() - start) / 1000);
  return {
    step(done, total, info) {
      const now = Date.now();
      // Each update is a message to the front-end; four a second is smooth enough and cheap.
      if (now - lastDraw < 250 && done < total) return;
      lastDraw = now;
      const frac = total > 0 ? done / total : 1;
      const secs = (now - start) / 1000;
      const eta = frac > 0 ? secs * (1 - frac) / frac : Infinity;
      out.text(`${label} ${bar(frac)} ${(frac * 100).toFixed(0)}% ${info} ${formatSeconds(secs)} eta ${formatSeconds(eta)}`);
    },
    epoch(line) {
      lastEpoch = line;
      lastDraw = Date.now();
      out.text(`${label} ${line} (${elapsed()})`);
    },
    done() {
      out.text(`${label} done in ${elapsed()}${lastEpoch ? `: ${lastEpoch}` : ''}`);
    },
  };
}
