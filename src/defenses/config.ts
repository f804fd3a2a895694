/**
 * Typed, validated defense configs. A defense may carry a zod `schema` whose defaults are its `defaults`;
 * one without a schema gets a strict schema derived from its defaults (same keys, same value types), so
 * every defense refuses a misspelt or mistyped field with a message naming it, e.g.
 * `FST config: alpha must be >= 0 (got -1)`.
 */
import { z } from 'zod';
import { Defense } from './types';

/** A defense as the registry holds it: the contract plus, optionally, a schema for its config. */
export type ConfigurableDefense<C = any> = Defense<C> & { schema?: z.ZodType<C, z.ZodTypeDef, unknown> }; // eslint-disable-line @typescript-eslint/no-explicit-any

// Builders that carry their own wording, as in experiment/config.ts, so every message reads "must be ...".
export const positive = () => z.number({ invalid_type_error: 'must be a number' }).positive('must be > 0').finite('must be finite');
export const nonNegative = () => z.number({ invalid_type_error: 'must be a number' }).min(0, 'must be >= 0').finite('must be finite');
export const fraction = () => z.number({ invalid_type_error: 'must be a number' }).min(0, 'must be between 0 and 1').max(1, 'must be between 0 and 1');
export const belowOne = () => z.number({ invalid_type_error: 'must be a number' }).min(0, 'must be in [0, 1)').lt(1, 'must be in [0, 1)');
export const int = (min: number) => z.number({ invalid_type_error: 'must be a number' })
  .int(`must be an integer >= ${min}`).min(min, `must be an integer >= ${min}`);
/** A string choice whose message lists the choices: `must be "a" or "b"`, or `must be one of "a", "b", "c"`. */
export const enumOf = <T extends string>(values: readonly [T, ...T[]]) => {
  const quoted = values.map((v) => `"${v}"`);
  const message = quoted.length === 2 ? `must be ${quoted[0]} or ${quoted[1]}` : `must be one of ${quoted.join(', ')}`;
  return z.enum(values, { errorMap: () => ({ message }) });
};

/** The fine-tuning recipe every tuning defense shares (README of the FST code: SGD 0.01, momentum 0.9, cosine, batch 128). */
export interface Recipe {
  epochs: number;
  batchSize: number;
  lr: number;
  momentum: number;
  weightDecay: number;
  schedule: 'cosine' | 'constant';
  /** Random-crop margin in pixels (zero padding); 0 = none. The original defenses tune with the training transform. */
  crop: number;
  /** Random horizontal flips (only where the dataset is flip-invariant). */
  flip: boolean;
}

/** zod fields for a Recipe with the given defaults; spread into a defense's z.object({...}). */
export function recipeFields(d: Recipe) {
  return {
    epochs: int(1).default(d.epochs),
    batchSize: int(2).default(d.batchSize),
    lr: positive().default(d.lr),
    momentum: belowOne().default(d.momentum),
    weightDecay: nonNegative().default(d.weightDecay),
    schedule: enumOf(['cosine', 'constant']).default(d.schedule),
    crop: int(0).default(d.crop),
    flip: z.boolean({ invalid_type_error: 'must be true or false' }).default(d.flip),
  };
}

export class DefenseConfigError extends Error {
  constructor(readonly defense: string, readonly issues: string[]) {
    super(`${defense} config: ${issues.join('; ')}`);
    this.name = 'DefenseConfigError';
  }
}

/** A strict schema with the keys and value types of `defaults` (nested objects recurse). */
export function schemaFromDefaults(defaults: unknown): z.ZodTypeAny {
  if (typeof defaults === 'number') return z.number({ invalid_type_error: 'must be a number' }).finite('must be finite').default(defaults);
  if (typeof defaults === 'boolean') return z.boolean({ invalid_type_error: 'must be true or false' }).default(defaults);
  if (typeof defaults === 'string') return z.string({ invalid_type_error: 'must be a string' }).default(defaults);
  if (Array.isArray(defaults)) return z.array(z.unknown(), { invalid_type_error: 'must be a list' }).default(defaults);
  if (defaults && typeof defaults === 'object') {
    const shape: Record<string, z.ZodTypeAny> = {};
    for (const [k, v] of Object.entries(defaults)) shape[k] = schemaFromDefaults(v);
    return z.object(shape).strict().default({});
  }
  return z.unknown();
}

/**
 * Validate `input` (a partial config; absent fields take the defaults) against the defense's schema.
 * Throws DefenseConfigError listing every bad field with the value it got.
 */
export function parseDefenseConfig<C>(defense: ConfigurableDefense<C>, input: unknown = {}): C {
  const schema = defense.schema ?? schemaFromDefaults(defense.defaults);
  const result = schema.safeParse(input ?? {});
  if (result.success) return result.data as C;
  const issues = result.error.issues.flatMap((issue) => {
    if (issue.code === z.ZodIssueCode.unrecognized_keys) {
      const known = Object.keys(defense.defaults as object).join(', ');
      return issue.keys.map((k) => `${[...issue.path, k].join('.')} is not a known field (known: ${known})`);
    }
    const got = lookup(input, issue.path);
    return [`${issue.path.join('.') || 'config'} ${issue.message}${got === undefined ? '' : ` (got ${JSON.stringify(got)})`}`];
  });
  throw new DefenseConfigError(defense.name, issues);
}

function lookup(root: unknown, path: (string | number)[]): unknown {
  let cur = root;
  for (const p of path) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = (cur as Record<string | number, unknown>)[p];
  }
  return cur;
}

/** Split `seed` off a config handed to `purify` and validate the rest. */
export function withSeed<C>(defense: ConfigurableDefense<C>, config: C & { seed: number }): C & { seed: number } {
  const { seed, ...rest } = config as C & { seed: number } & Record<string, unknown>;
  if (!Number.isInteger(seed)) throw new DefenseConfigError(defense.name, [`seed must be an integer (got ${JSON.stringify(seed)})`]);
  return { ...parseDefenseConfig(defense, rest), seed };
}

/** The recipe of a defense config as `finetune` options. */
export function pickRecipe(c: Recipe) {
  return {
    epochs: c.epochs, batchSize: c.batchSize, lr: c.lr, momentum: c.momentum, weightDecay: c.weightDecay,
    schedule: c.schedule, augment: { crop: c.crop, flip: c.flip },
  };
}
