/**
 * Updatable outputs in a tslab kernel, with no dependencies, so that low-level code (training progress)
 * can draw one line that it keeps rewriting instead of appending a line per step.
 */

/** One output entry that each call replaces (tslab's `newDisplay()`: display_data, then update_display_data). */
export interface TextDisplay {
  text(s: string): void;
}

/**
 * A fresh updatable display in the running tslab kernel, or undefined outside one. tslab's own module is
 * reached through `globalThis.__tslab__.require`, the instance connected to Jupyter (see viz/show.ts).
 */
export function newNotebookDisplay(): TextDisplay | undefined {
  const g = globalThis as { __tslab__?: { require?: (id: string) => unknown } };
  const req = g.__tslab__?.require;
  if (typeof req !== 'function') return undefined;
  const tslab = req('tslab') as { newDisplay?: () => TextDisplay } | undefined;
  return typeof tslab?.newDisplay === 'function' ? busySafe(tslab.newDisplay()) : undefined;
}

/**
 * tslab sends each update on a ZeroMQ socket that refuses a second send while one is in flight (EBUSY). A
 * study loading hundreds of cached cells in a row updates faster than that, and the refusal used to kill the
 * kernel. Since only the latest text of an updatable line matters, a refused update is kept and retried a
 * moment later, replaced by any newer text in the meantime.
 */
export function busySafe(display: TextDisplay, retryMs = 20): TextDisplay {
  let pending: string | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const flush = () => {
    timer = undefined;
    if (pending === undefined) return;
    try {
      display.text(pending);
      pending = undefined;
    } catch (e) {
      if ((e as { code?: string }).code !== 'EBUSY') throw e;
      timer = setTimeout(flush, retryMs);
    }
  };
  return {
    text(s: string) {
      pending = s;
      if (timer === undefined) flush();
    },
  };
}

/**
 * A writer for line-oriented logs (e.g. `reproduce`'s `write`) that shows only the latest complete line,
 * in one output that updates in place; `lines` keeps them all for the caller. Outside a kernel it writes
 * to stdout unchanged.
 */
export function liveLine(display: TextDisplay | undefined = newNotebookDisplay()): { write: (s: string) => void; lines: string[] } {
  const lines: string[] = [];
  let partial = '';
  return {
    lines,
    write(s: string) {
      if (!display) {
        process.stdout.write(s);
        return;
      }
      const parts = (partial + s).split('\n');
      partial = parts.pop() ?? '';
      const full = parts.map((p) => p.replace(/\r/g, '').trimEnd()).filter((p) => p !== '');
      if (full.length === 0) return;
      lines.push(...full);
      display.text(full[full.length - 1]);
    },
  };
}
