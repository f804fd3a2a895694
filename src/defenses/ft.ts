/**
 * FT — vanilla fine-tuning of the whole backdoored model on the defender's clean split, with the recipe of
 * the FST code's README (SGD lr 0.01, momentum 0.9, no weight decay, cosine, batch 128).
 *
 * Departures / choices:
 * - Plain fine-tuning: the authors' `fine_tune/ft.py` also rescales the head to its original norm after
 *   every step in `ft` mode (spec §11.9); that projection belongs to FST and is not applied here.
 * - Epochs: the README's 10. The paper does not report FT at all; it is reported as it is.
 * Data: the clean split only.
 */
import { z } from 'zod';
import { ConfigurableDefense, pickRecipe, Recipe, recipeFields, withSeed } from './config';
import { finetune } from './finetune';

export type FtConfig = Recipe;

const schema = z.object(recipeFields({
  epochs: 10, batchSize: 128, lr: 0.01, momentum: 0.9, weightDecay: 0, schedule: 'cosine', crop: 0, flip: false,
})).strict();

export const ft: ConfigurableDefense<FtConfig> = {
  name: 'FT',
  assumes: 'the clean split',
  defaults: schema.parse({}),
  schema,
  async purify(model, data, config) {
    const c = withSeed(ft, config);
    const r = await finetune(model, data.clean, { ...pickRecipe(c), seed: c.seed, progress: data.progress, label: 'FT' });
    return {
      model: r.model,
      report: { dataUsed: `${data.clean.n} clean images`, samplesSeen: r.samplesSeen, seconds: r.seconds },
    };
  },
};
