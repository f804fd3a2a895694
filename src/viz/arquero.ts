/**
 * Loads arquero in a way that works everywhere this project runs CommonJS code.
 *
 * arquero 7 is an ES module package (`"type": "module"`). Plain Node >= 20.19 can `require()` it, but
 * Jest's CommonJS runtime (ts-jest) cannot ("Unexpected token 'export'"), and neither can older Node 20.
 * Its package also ships a self-contained UMD bundle (`dist/arquero.js`), which Node would still load as
 * ESM because of the package's `"type"`. So we read that bundle and evaluate it as a CommonJS factory.
 * Types come from the package's own declarations.
 */
import * as fs from 'fs';
import type * as Arquero from 'arquero';

export type AqModule = typeof Arquero;
/** An arquero table (what `aq.table`, `aq.from`, verbs like `pivot` return). */
export type ColumnTable = Arquero.ColumnTable;

let cached: AqModule | undefined;

/** The arquero module (loaded once). */
export function aq(): AqModule {
  if (cached) return cached;
  const file = require.resolve('arquero/dist/arquero.js');
  const source = fs.readFileSync(file, 'utf8');
  const mod: { exports: Record<string, unknown> } = { exports: {} };
  // The UMD wrapper takes its CommonJS branch when `exports` and `module` are defined.
  new Function('exports', 'module', source)(mod.exports, mod);
  if (typeof mod.exports.table !== 'function') {
    throw new Error(`arquero: ${file} did not define table(); unexpected bundle format`);
  }
  cached = mod.exports as unknown as AqModule;
  return cached;
}

/** Duck-typed check for an arquero table (from this loader or from any other copy of arquero). */
export function isColumnTable(x: unknown): x is ColumnTable {
  if (typeof x !== 'object' || x === null) return false;
  const t = x as { columnNames?: unknown; objects?: unknown; numRows?: unknown };
  return typeof t.columnNames === 'function' && typeof t.objects === 'function' && typeof t.numRows === 'function';
}
