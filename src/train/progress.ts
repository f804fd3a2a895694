/**
 * Progress reporting for long runs: a redrawn bar on a terminal, one compact line per epoch elsewhere
 * (notebooks, CI logs), nothing when silent.
 */
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

export function createProgress(label: string, mode: ProgressMode = 'auto',
  write: (s: string) => void = (s) => process.stderr.write(s)): Progress {
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
