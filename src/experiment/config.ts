import { z } from 'zod';
import { attackSpecs } from '../attacks/registry';
import { datasetNames } from '../data/registry';
import { architectureNames } from '../models/model';
import { AnyAttackSpec, AttackConfig } from '../attacks/spec';
import { fraction, int, nonEmpty, positive, seed } from '../configFields';

/*
 * The experiment config: one schema, every field defaulted, so `parseConfig({})` is a complete,
 * runnable experiment and a caller only spells out what it changes.
 *
 * Objects are strict: a misspelt field (`poisonrate`) is an error rather than a silently ignored
 * setting. To add a section later (defenses, reactivation attacks) define its schema next to these and
 * add one line to ExperimentConfigSchema, e.g. `defense: DefenseSchema.default({})`.
 */

/**
 * One of a registry's names (datasets, architectures), read at parse time so that a name registered after this
 * module loaded (a test's own) is accepted too.
 */
export const registeredName = (names: () => string[]) => z.lazy(() => z.enum(names() as [string, ...string[]]));

const DEFAULT_RESNET_DEPTH = [1, 1, 1];

export const ModelSchema = z
  .object({
    arch: registeredName(architectureNames).default('cnn'),
    /** Multiplier on every layer's channel count. */
    width: positive().default(1),
    /** Residual blocks per stage; defaults to [1, 1, 1] for preact-resnet. */
    depth: z.array(int(1)).min(1, 'must list at least one stage').optional(),
    /** Channels per stage (before `width` is applied); the architecture picks its own when absent. */
    widths: z.array(int(1)).min(1, 'must list at least one stage').optional(),
  })
  .strict()
  .superRefine((m, ctx) => {
    if (m.depth && m.widths && m.depth.length !== m.widths.length) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['widths'],
        message: `must have one entry per stage: depth has ${m.depth.length}, widths has ${m.widths.length}`,
      });
    }
  })
  // Filled here rather than by the model builder so that the cache key sees the depth actually used.
  .transform((m) => (m.arch === 'preact-resnet' && !m.depth ? { ...m, depth: [...DEFAULT_RESNET_DEPTH] } : m));

/** What a caller may write for the attack: any of the fields every attack has, and its settings. */
export interface AttackInput {
  name?: string;
  target?: number;
  poisonRate?: number;
  patternSeed?: number;
  [field: string]: unknown;
}

/** The attack section: the registered attacks (src/attacks/registry.ts) and `none`, the clean model. */
const AttackSchema: z.ZodType<AttackConfig, z.ZodTypeDef, AttackInput> = z.lazy(attackSchema);

let built: { from: readonly AnyAttackSpec[]; schema: z.ZodType<AttackConfig, z.ZodTypeDef, AttackInput> } | undefined;

// Rebuilt when an attack is registered after this module loaded (a test's own attack).
function attackSchema(): z.ZodType<AttackConfig, z.ZodTypeDef, AttackInput> {
  const specs = attackSpecs();
  if (built?.from !== specs) built = { from: specs, schema: buildAttackSchema(specs) };
  return built.schema;
}

function buildAttackSchema(specs: readonly AnyAttackSpec[]): z.ZodType<AttackConfig, z.ZodTypeDef, AttackInput> {
  const names = ['none', ...specs.map((s) => s.name)] as [string, ...string[]];
  const topLevel = specs.filter((s) => s.placement === 'top-level');
  const sections = specs.filter((s) => s.placement !== 'top-level');
  return z
    .object({
      name: z.enum(names).default('badnets'),
      /** Class the backdoor sends triggered inputs to. */
      target: int(0).default(0),
      /** Fraction of the training set that is poisoned: the attack's default rate when absent. */
      poisonRate: fraction().optional(),
      patternSeed: seed().default(0),
      ...Object.assign({}, ...topLevel.map((s) => s.settings.shape)),
      // A section exists only for its attack, so the cache keys of attacks without one are unchanged by new ones.
      ...Object.fromEntries(sections.map((s) => [s.name, s.settings.optional()])),
    })
    .strict()
    .transform((a) => {
      const out: Record<string, unknown> = { ...a, poisonRate: a.poisonRate ?? specs.find((s) => s.name === a.name)?.defaultPoisonRate ?? 0.05 };
      // Another attack's section is dropped, not refused: `{ ...config.attack, name: 'none' }` (the clean
      // twin of an experiment) must parse to the same config, and key, as a plain `none`.
      for (const s of sections) {
        if (s.name !== a.name) delete out[s.name];
        else out[s.name] = (a as Record<string, unknown>)[s.name] ?? s.settings.parse({});
      }
      return out as AttackConfig;
    });
}

export const AugmentSchema = z
  .object({
    /** Pad-and-random-crop margin in pixels; 0 disables cropping. */
    crop: int(0).default(0),
    /** Random horizontal flips (only applied where the dataset is flip invariant). */
    flip: z.boolean().default(false),
  })
  .strict();

export const TrainSchema = z
  .object({
    // Four epochs without augmentation: on Fashion-MNIST the short schedule underfits, and augmentation
    // cost 1.5–2 points of C-Acc in a measured 4-epoch run (89.9% with crop 2 + flip vs ~92% without).
    epochs: int(1).default(4),
    batchSize: int(1).default(128),
    lr: positive().default(0.05),
    momentum: fraction().default(0.9),
    weightDecay: z.number().min(0, 'must be >= 0').default(5e-4),
    schedule: z.enum(['cosine', 'constant']).default('cosine'),
    augment: AugmentSchema.default({}),
  })
  .strict();

export const SplitSchema = z
  .object({
    /** Fraction of the clean training set held back for the defender (fine-tuning, pruning, ...). */
    defenseFraction: z.number().min(0, 'must be in [0, 1)').lt(1, 'must be in [0, 1)').default(0.05),
    /** Number of held-out examples the attacker may use (e.g. for reactivation). */
    attackerPoolSize: int(0).default(1000),
  })
  .strict();

export const ExperimentConfigSchema = z
  .object({
    dataset: registeredName(datasetNames).default('fashion-mnist'),
    /** Where raw dataset files live; the loader's own default when absent. */
    dataDir: nonEmpty().optional(),
    /** Seeded random subsets of the training / test sets (QUICK notebook runs, smoke tests); all when absent. */
    trainLimit: int(2).optional(),
    testLimit: int(2).optional(),
    model: ModelSchema.default({}),
    attack: AttackSchema.default({}),
    train: TrainSchema.default({}),
    split: SplitSchema.default({}),
    seed: seed().default(0),
    runsDir: nonEmpty().default('runs'),
  })
  .strict();

export type ExperimentConfig = z.infer<typeof ExperimentConfigSchema>;
export type ModelConfig = ExperimentConfig['model'];
export type { AttackConfig };
export type TrainConfig = ExperimentConfig['train'];
export type SplitConfig = ExperimentConfig['split'];

/** Every field optional at every depth; arrays are replaced whole, never merged element-wise. */
export type DeepPartial<T> = T extends readonly unknown[]
  ? T
  : T extends object
    ? { [K in keyof T]?: DeepPartial<T[K]> }
    : T;

/** What callers may pass: any subset of the config, nested. */
export type PartialConfigInput = DeepPartial<z.input<typeof ExperimentConfigSchema>>;

export interface ConfigIssue {
  /** Dotted path from the root, e.g. "config.attack.poisonRate". */
  path: string;
  message: string;
}

/** Thrown by parseConfig; `issues` lists every problem found, not just the first. */
export class ConfigError extends Error {
  constructor(readonly issues: ConfigIssue[]) {
    super(`invalid experiment config:\n${issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Validate a (possibly partial) config and fill in defaults. Throws ConfigError naming each bad field. */
export function parseConfig(input: unknown): ExperimentConfig {
  const result = ExperimentConfigSchema.safeParse(input ?? {}, { errorMap });
  if (result.success) return result.data;
  const issues = result.error.issues.flatMap((issue) => describe(issue, input));
  // A value can break two rules with the same wording (-1.5 is neither an integer nor >= 0): say it once.
  const seen = new Set<string>();
  throw new ConfigError(issues.filter((i) => !seen.has(`${i.path}: ${i.message}`) && seen.add(`${i.path}: ${i.message}`)));
}

/** Apply overrides to a config (deep for objects, whole for arrays) and re-validate the result. */
export function mergeConfig(base: PartialConfigInput, overrides: PartialConfigInput): ExperimentConfig {
  return parseConfig(deepMerge(base, overrides));
}

function deepMerge(base: unknown, over: unknown): unknown {
  if (over === undefined) return base;
  if (!isPlainObject(base) || !isPlainObject(over)) return over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = deepMerge(base[k], v);
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// Replaces zod's generic wording ("Expected number, received string") with the "must be ..." style.
const errorMap: z.ZodErrorMap = (issue, ctx) => {
  switch (issue.code) {
    case z.ZodIssueCode.invalid_type:
      if (issue.received === 'undefined') return { message: 'is required' };
      return { message: `must be ${/^[aeiou]/.test(issue.expected) ? 'an' : 'a'} ${issue.expected}` };
    case z.ZodIssueCode.invalid_enum_value:
      return { message: `must be one of ${issue.options.map((o) => JSON.stringify(o)).join(', ')}` };
    default:
      return { message: ctx.defaultError };
  }
};

function describe(issue: z.ZodIssue, input: unknown): ConfigIssue[] {
  if (issue.code === z.ZodIssueCode.unrecognized_keys) {
    return issue.keys.map((k) => ({ path: formatPath([...issue.path, k]), message: 'is not a known field (misspelt?)' }));
  }
  const got = lookup(input, issue.path);
  const suffix = got.found && got.value !== undefined ? ` (got ${show(got.value)})` : '';
  return [{ path: formatPath(issue.path), message: issue.message + suffix }];
}

function formatPath(path: (string | number)[]): string {
  return path.reduce<string>((s, p) => (typeof p === 'number' ? `${s}[${p}]` : `${s}.${p}`), 'config');
}

function lookup(root: unknown, path: (string | number)[]): { found: boolean; value?: unknown } {
  let cur = root;
  for (const p of path) {
    if (typeof cur !== 'object' || cur === null || !(p in cur)) return { found: false };
    cur = (cur as Record<string | number, unknown>)[p];
  }
  return { found: true, value: cur };
}

function show(v: unknown): string {
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  const s = JSON.stringify(v);
  if (s === undefined) return String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}
