/**
 * A small declarative argument parser: each command lists its options once, and the same table drives
 * parsing, validation and --help, so the help text cannot drift from what is accepted.
 */
export interface OptionSpec {
  name: string;
  /** 'flag' takes no value. */
  type: 'string' | 'number' | 'int' | 'flag' | 'list';
  help: string;
  default?: string | number | boolean;
  choices?: readonly string[];
}

export interface CommandSpec {
  name: string;
  summary: string;
  options: OptionSpec[];
}

export type ParsedArgs = Record<string, string | number | boolean | string[] | undefined>;

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

function camel(name: string): string {
  return name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

export function parseArgs(cmd: CommandSpec, argv: string[]): ParsedArgs {
  const out: ParsedArgs = {};
  for (const o of cmd.options) if (o.default !== undefined) out[camel(o.name)] = o.default;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) throw new UsageError(`${cmd.name}: unexpected argument "${arg}"`);
    const [rawName, inline] = arg.slice(2).split(/=(.*)/s, 2);
    const spec = cmd.options.find((o) => o.name === rawName);
    if (!spec) {
      throw new UsageError(`${cmd.name}: unknown option --${rawName} (see \`superficial-safety ${cmd.name} --help\`)`);
    }
    const key = camel(spec.name);
    if (spec.type === 'flag') {
      out[key] = inline === undefined ? true : inline !== 'false';
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined) throw new UsageError(`${cmd.name}: --${spec.name} needs a value`);
    if (spec.choices && !spec.choices.includes(value)) {
      throw new UsageError(`${cmd.name}: --${spec.name} must be one of ${spec.choices.join(', ')} (got "${value}")`);
    }
    if (spec.type === 'number' || spec.type === 'int') {
      const n = Number(value);
      if (!Number.isFinite(n) || (spec.type === 'int' && !Number.isInteger(n))) {
        throw new UsageError(`${cmd.name}: --${spec.name} must be ${spec.type === 'int' ? 'an integer' : 'a number'} (got "${value}")`);
      }
      out[key] = n;
    } else if (spec.type === 'list') {
      out[key] = value.split(',').map((s) => s.trim()).filter(Boolean);
    } else {
      out[key] = value;
    }
  }
  return out;
}

export function formatHelp(cmd: CommandSpec): string {
  const rows = cmd.options.map((o) => {
    const left = `--${o.name}${o.type === 'flag' ? '' : ` <${o.choices ? o.choices.join('|') : o.type}>`}`;
    const def = o.default !== undefined && o.type !== 'flag' ? ` (default: ${o.default})` : '';
    return [left, `${o.help}${def}`];
  });
  const width = Math.max(...rows.map((r) => r[0].length), 10);
  return [`superficial-safety ${cmd.name} — ${cmd.summary}`, '', 'Options:',
    ...rows.map(([l, r]) => `  ${l.padEnd(width)}  ${r}`)].join('\n');
}
