/**
 * ANP-oracle — ANP with the pruning level chosen the way BackdoorBench (and so the paper's ANP row) chooses it:
 * among the candidates whose relative clean-accuracy drop is below `accRatio`, the one with the lowest ASR on
 * triggered images (anp.ts, selection 'oracle-asr'). The triggered images are the defender's held-out clean
 * images with the real trigger stamped on (`data.oracle`); BackdoorBench uses the test set. No defender holds
 * the trigger, so this row is a comparison only — it shows how much of ANP's result the oracle selection
 * explains — and it is never one of the graded baselines (report/claims.ts). Everything else is ANP's.
 * Data: the clean split and the real trigger (oracle).
 */
import { z } from 'zod';
import { anp, ANP_SCHEMA, AnpConfig } from './anp';
import { ConfigurableDefense } from './config';

const schema: z.ZodType<AnpConfig, z.ZodTypeDef, unknown> = z.preprocess(
  (v) => (v && typeof v === 'object' && !Array.isArray(v) ? { selection: 'oracle-asr', ...v } : v),
  ANP_SCHEMA,
).refine((c) => c.selection === 'oracle-asr', { message: 'ANP-oracle selects by ASR; for another selection use ANP', path: ['selection'] });

export const anpOracle: ConfigurableDefense<AnpConfig> = {
  name: 'ANP-oracle',
  assumes: 'the clean split and the real trigger (oracle: the pruning level with the lowest triggered ASR)',
  defaults: schema.parse({}),
  schema,
  purify: (model, data, config) => anp.purify(model, data, config),
};
