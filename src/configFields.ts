/**
 * zod builders that carry their own wording, so every config error reads "must be ..." and ConfigError can
 * append "(got x)". Shared by the experiment config and the attacks' settings, which it assembles.
 */
import { z } from 'zod';

const MAX_SEED = 2 ** 32 - 1; // Rng folds seeds to 32 bits, so larger ones would silently alias.

export const int = (min: number, max = Number.MAX_SAFE_INTEGER) => {
  const what = max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer between ${min} and ${max}`;
  return z.number().int(`must be ${what}`).min(min, `must be ${what}`).max(max, `must be ${what}`);
};
export const fraction = () => z.number().min(0, 'must be between 0 and 1').max(1, 'must be between 0 and 1');
export const positive = () => z.number().positive('must be > 0');
export const nonEmpty = () => z.string().min(1, 'must not be empty');
export const seed = () => int(0, MAX_SEED);
