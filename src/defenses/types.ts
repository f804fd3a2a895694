/**
 * The contract every purification defense follows: `purify(model, data, config) → model`. A defense never
 * modifies its input model; it reports what it consumed so results can say which data each method assumed.
 */
import { Trigger } from '../attacks/trigger';
import { Dataset } from '../data/dataset';
import { Model } from '../models/spec';
import { ProgressMode } from '../train/progress';

export interface DefenseData {
  /** The defender's clean split: a small fraction of the (clean) training set. */
  clean: Dataset;
  /**
   * Oracle knowledge, used only by EP (Exact Purification): the real trigger and target. Any other
   * defense must not read these.
   */
  oracle?: { trigger: Trigger; target: number };
  /** For logging only (never for selection inside a defense). */
  log?: (line: string) => void;
  progress?: ProgressMode;
}

export interface DefenseReport {
  /** Which data the defense used, in words, e.g. "3000 clean images" or "3000 clean + 600 triggered (true labels)". */
  dataUsed: string;
  samplesSeen: number;
  seconds: number;
  /** Anything method-specific worth reporting (pruned neurons, detected target class, ...). */
  details?: Record<string, unknown>;
}

export interface DefenseResult {
  model: Model;
  report: DefenseReport;
}

export interface Defense<C> {
  /** Short name as in the paper's tables: FT, EP, FST, SAM, ANP, BAU, BTI, PAM. */
  name: string;
  /** What the defender is assumed to hold. */
  assumes: string;
  defaults: C;
  /** Seeded through `seed` in the config; must leave `model` untouched. */
  purify(model: Model, data: DefenseData, config: C & { seed: number }): Promise<DefenseResult>;
}
