/**
 * Result tables: long-format results (one row per method × attack × metric) pivoted with arquero into
 * the paper's layout (rows = method, columns = attack × metric), and rendered as HTML (notebooks, via
 * `show`), CSV and Markdown with numbers to one decimal ("mean ± std" when a std is present).
 *
 * Column naming convention of a paper-layout table (any arquero table following it renders the same):
 *   - `method`                          the row label;
 *   - `${attack}${COLUMN_SEP}${metric}` the value, e.g. "BadNets / ASR";
 *   - the same name + `STD_SUFFIX`      its std, when any row had one, e.g. "BadNets / ASR (std)".
 * Renderers merge a value column with its std column and group columns by attack under a spanning
 * header; columns without the separator are shown as they are.
 */
import { aq, isColumnTable, type ColumnTable } from './arquero';

export { isColumnTable, type ColumnTable };

/** One measured number in long format. */
export interface ResultRow {
  method: string;
  attack: string;
  metric: string;
  value: number;
  /** Spread over seeds, when the value is a mean. */
  std?: number | null;
}

export interface PaperLayoutOptions {
  /** Row order; methods not listed follow in order of first appearance. */
  methodOrder?: string[];
  /** Attack (column group) order; default: order of first appearance. */
  attackOrder?: string[];
  /** Metric order within each attack; default: order of first appearance. */
  metricOrder?: string[];
}

/** Separates attack and metric in a paper-layout column name. */
export const COLUMN_SEP = ' / ';
/** Suffix of the std column that goes with a value column. */
export const STD_SUFFIX = ' (std)';

function ordered(seen: string[], preferred: string[] | undefined): string[] {
  if (!preferred) return seen;
  const present = new Set(seen);
  const first = preferred.filter((x) => present.has(x));
  const listed = new Set(first);
  return [...first, ...seen.filter((x) => !listed.has(x))];
}

function uniqueInOrder(xs: string[]): string[] {
  return [...new Set(xs)];
}

/**
 * Pivot long-format results to the paper layout: one row per method (in `methodOrder`), one column per
 * attack × metric that occurs (attacks in `attackOrder`, metrics in `metricOrder` within each attack),
 * plus std columns when any row has a std. Missing combinations (and missing stds) are null. Duplicate
 * (method, attack, metric) rows are an error, never silently averaged.
 */
export function toPaperLayout(rows: ResultRow[], opts: PaperLayoutOptions = {}): ColumnTable {
  const fn = 'toPaperLayout';
  if (rows.length === 0) throw new Error(`${fn}: no rows`);
  const seen = new Set<string>();
  for (const r of rows) {
    for (const k of ['method', 'attack', 'metric'] as const) {
      if (typeof r[k] !== 'string' || r[k] === '') throw new Error(`${fn}: row ${JSON.stringify(r)} has no ${k}`);
    }
    if (r.attack.includes(COLUMN_SEP) || r.metric.includes(COLUMN_SEP)) {
      throw new Error(`${fn}: attack/metric names must not contain "${COLUMN_SEP}": ${JSON.stringify(r)}`);
    }
    if (typeof r.value !== 'number') throw new Error(`${fn}: row ${JSON.stringify(r)} has a non-numeric value`);
    const id = JSON.stringify([r.method, r.attack, r.metric]);
    if (seen.has(id)) throw new Error(`${fn}: duplicate result for method "${r.method}", attack "${r.attack}", metric "${r.metric}"`);
    seen.add(id);
  }
  const hasStd = rows.some((r) => r.std !== undefined && r.std !== null);
  const methods = ordered(uniqueInOrder(rows.map((r) => r.method)), opts.methodOrder);
  const attacks = ordered(uniqueInOrder(rows.map((r) => r.attack)), opts.attackOrder);
  const metrics = ordered(uniqueInOrder(rows.map((r) => r.metric)), opts.metricOrder);
  const keys = new Set(rows.map((r) => r.attack + COLUMN_SEP + r.metric));
  const valueColumns = attacks.flatMap((a) => metrics.map((m) => a + COLUMN_SEP + m)).filter((k) => keys.has(k));

  const lib = aq();
  const long = lib.from(
    rows.map((r) => ({
      method: r.method,
      key: r.attack + COLUMN_SEP + r.metric,
      value: Number.isFinite(r.value) ? r.value : null,
      std: r.std !== undefined && r.std !== null && Number.isFinite(r.std) ? r.std : null,
    })),
  );
  // Each (method, key) group holds exactly one row (checked above), so `any` just picks it.
  const VSEP = '\u0001';
  const wide = long
    .groupby('method')
    .pivot('key', hasStd ? { value: 'd => op.any(d.value)', std: 'd => op.any(d.std)' } : { value: 'd => op.any(d.value)' }, {
      valueSeparator: VSEP,
    });
  const have = new Set(wide.columnNames());
  const rename: Record<string, string> = { method: 'method' };
  for (const k of valueColumns) {
    const v = hasStd ? `value${VSEP}${k}` : k;
    if (have.has(v)) rename[v] = k;
    if (hasStd && have.has(`std${VSEP}${k}`)) rename[`std${VSEP}${k}`] = k + STD_SUFFIX;
  }
  const rank = new Map(methods.map((m, i) => [m, i] as const));
  const out = wide
    .select(rename)
    .orderby(lib.escape((d: { method: string }) => rank.get(d.method) ?? Number.MAX_SAFE_INTEGER));
  // Make sure every expected column exists (pivot omits a key only if no row has it, which cannot happen
  // here, but keep the output shape independent of arquero's details).
  const missing = valueColumns.filter((k) => !out.columnNames().includes(k));
  if (missing.length > 0) throw new Error(`${fn}: pivot lost columns ${missing.join(', ')}`);
  // Missing cells come out of pivot as undefined; make them null (JSON-friendly, one convention).
  const columns: Record<string, unknown[]> = {};
  for (const name of out.columnNames()) columns[name] = Array.from(out.array(name) as ArrayLike<unknown>, (v) => (v === undefined ? null : v));
  return lib.table(columns, out.columnNames());
}

// ---------------------------------------------------------------------------------------------------
// Formatting

export interface FormatOptions {
  /** Decimals (default 1). */
  digits?: number;
  /** Text for a missing value (default "–"). */
  missing?: string;
}

/** Fixed-point with `digits` decimals; null/undefined/NaN become `missing`; "-0.0" becomes "0.0". */
export function formatNumber(v: unknown, digits = 1, missing = '–'): string {
  if (typeof v !== 'number' || !Number.isFinite(v)) return missing;
  const s = v.toFixed(digits);
  return Number(s) === 0 ? (0).toFixed(digits) : s;
}

/** "mean ± std" (or just "mean" when std is absent), each with `digits` decimals. */
export function formatMeanStd(mean: unknown, std: unknown, digits = 1, missing = '–'): string {
  const m = formatNumber(mean, digits, missing);
  if (m === missing || typeof std !== 'number' || !Number.isFinite(std)) return m;
  return `${m} ± ${formatNumber(std, digits, missing)}`;
}

/** How a table is displayed: one entry per visible column. */
export interface DisplayColumn {
  /** Column holding the value. */
  key: string;
  /** Column holding its std, if any. */
  stdKey?: string;
  /** Spanning header (the attack), if the name has the form `group / label`. */
  group?: string;
  /** Header under the group (the metric), or the whole name. */
  label: string;
}

/** Visible columns of a table: std columns merged into their value column, names split into group/label. */
export function displayColumns(table: ColumnTable): DisplayColumn[] {
  const names = table.columnNames();
  const all = new Set(names);
  const cols: DisplayColumn[] = [];
  for (const name of names) {
    if (name.endsWith(STD_SUFFIX) && all.has(name.slice(0, -STD_SUFFIX.length))) continue;
    const stdKey = all.has(name + STD_SUFFIX) ? name + STD_SUFFIX : undefined;
    const at = name.lastIndexOf(COLUMN_SEP);
    const col: DisplayColumn =
      at > 0 ? { key: name, group: name.slice(0, at), label: name.slice(at + COLUMN_SEP.length) } : { key: name, label: name };
    if (stdKey) col.stdKey = stdKey;
    cols.push(col);
  }
  return cols;
}

function cellText(row: Record<string, unknown>, col: DisplayColumn, digits: number, missing: string): string {
  const v = row[col.key];
  if (typeof v === 'number' || v === null || v === undefined) {
    return col.stdKey ? formatMeanStd(v, row[col.stdKey], digits, missing) : formatNumber(v, digits, missing);
  }
  return String(v);
}

function isNumericColumn(rows: Record<string, unknown>[], key: string): boolean {
  return rows.some((r) => typeof r[key] === 'number') && rows.every((r) => r[key] == null || typeof r[key] === 'number');
}

/** Formatted cell texts, row by row (header excluded), for any renderer. */
export function formattedRows(table: ColumnTable, opts: FormatOptions = {}): string[][] {
  const digits = opts.digits ?? 1;
  const missing = opts.missing ?? '–';
  const cols = displayColumns(table);
  return (table.objects() as Record<string, unknown>[]).map((r) => cols.map((c) => cellText(r, c, digits, missing)));
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export interface TableHtmlOptions extends FormatOptions {
  caption?: string;
}

/**
 * HTML table (no scripts, so it shows in untrusted notebooks too). Attack groups get a spanning header
 * row; numbers are right-aligned.
 */
export function tableHtml(table: ColumnTable, opts: TableHtmlOptions = {}): string {
  const cols = displayColumns(table);
  const objects = table.objects() as Record<string, unknown>[];
  const body = formattedRows(table, opts);
  const numeric = cols.map((c) => isNumericColumn(objects, c.key));
  const grouped = cols.some((c) => c.group !== undefined);
  const th = 'style="text-align:center;padding:2px 8px"';
  const lines: string[] = ['<table class="ss-table" style="border-collapse:collapse;font-variant-numeric:tabular-nums">'];
  if (opts.caption) lines.push(`<caption style="caption-side:top;text-align:left;font-weight:bold">${escapeHtml(opts.caption)}</caption>`);
  lines.push('<thead>');
  if (grouped) {
    const top: string[] = [];
    for (let i = 0; i < cols.length; ) {
      const g = cols[i].group;
      if (g === undefined) {
        top.push(`<th rowspan="2" ${th}>${escapeHtml(cols[i].label)}</th>`);
        i++;
        continue;
      }
      let j = i;
      while (j < cols.length && cols[j].group === g) j++;
      top.push(`<th colspan="${j - i}" ${th}>${escapeHtml(g)}</th>`);
      i = j;
    }
    lines.push(`<tr>${top.join('')}</tr>`);
    lines.push(`<tr>${cols.filter((c) => c.group !== undefined).map((c) => `<th ${th}>${escapeHtml(c.label)}</th>`).join('')}</tr>`);
  } else {
    lines.push(`<tr>${cols.map((c) => `<th ${th}>${escapeHtml(c.label)}</th>`).join('')}</tr>`);
  }
  lines.push('</thead>', '<tbody>');
  for (const row of body) {
    const tds = row.map((text, i) => `<td style="text-align:${numeric[i] ? 'right' : 'left'};padding:2px 8px">${escapeHtml(text)}</td>`);
    lines.push(`<tr>${tds.join('')}</tr>`);
  }
  lines.push('</tbody>', '</table>');
  return lines.join('\n');
}

function csvField(s: string): string {
  return /[",\n\r]|^\s|\s$/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export interface CsvOptions extends FormatOptions {
  /** Unformatted numbers, std in its own columns (for machine reading). Default false. */
  raw?: boolean;
}

/** CSV with a header row of full column names ("BadNets / ASR"); formatted like the HTML unless `raw`. */
export function toCsv(table: ColumnTable, opts: CsvOptions = {}): string {
  if (opts.raw) {
    const names = table.columnNames();
    const rows = (table.objects() as Record<string, unknown>[]).map((r) =>
      names.map((n) => (r[n] === null || r[n] === undefined || (typeof r[n] === 'number' && !Number.isFinite(r[n])) ? '' : String(r[n]))),
    );
    return [names, ...rows].map((r) => r.map(csvField).join(',')).join('\n') + '\n';
  }
  const header = displayColumns(table).map((c) => c.key);
  return [header, ...formattedRows(table, opts)].map((r) => r.map(csvField).join(',')).join('\n') + '\n';
}

/** GitHub-flavoured Markdown table; numeric columns right-aligned. */
export function toMarkdown(table: ColumnTable, opts: FormatOptions = {}): string {
  const cols = displayColumns(table);
  const objects = table.objects() as Record<string, unknown>[];
  const esc = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const header = `| ${cols.map((c) => esc(c.key)).join(' | ')} |`;
  const rule = `|${cols.map((c) => (isNumericColumn(objects, c.key) ? '---:' : ':---')).join('|')}|`;
  const body = formattedRows(table, opts).map((r) => `| ${r.map(esc).join(' | ')} |`);
  return [header, rule, ...body].join('\n') + '\n';
}
