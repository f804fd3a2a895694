/**
 * What the spec expects of the trained models before any defense (notebook 00 checks them): a backdoored model
 * keeps its clean accuracy and learns the trigger, the clean model does not react to it.
 */
import { Rates } from '../experiment/purify';

export interface ModelExpectation {
  /** The backdoored model of `attack`, or the clean model evaluated with `attack`'s trigger. */
  model: 'backdoored' | 'clean';
  attack: string;
  metric: keyof Rates;
  /** Rates in [0, 1]; the measured rate must be at least `min` / at most `max`. */
  min?: number;
  max?: number;
}

export const MODEL_EXPECTATIONS: readonly ModelExpectation[] = [
  { model: 'backdoored', attack: 'badnets', metric: 'cleanAccuracy', min: 0.9 },
  { model: 'backdoored', attack: 'badnets', metric: 'asr', min: 0.97 },
  { model: 'backdoored', attack: 'blended', metric: 'cleanAccuracy', min: 0.9 },
  { model: 'backdoored', attack: 'blended', metric: 'asr', min: 0.95 },
  { model: 'clean', attack: 'badnets', metric: 'cleanAccuracy', min: 0.9 },
  { model: 'clean', attack: 'badnets', metric: 'asr', max: 0.05 },
];

/** The expectation as a rule, e.g. "backdoored model (badnets) ASR ≥ 97%". */
export function expectationRule(e: ModelExpectation): string {
  const metric = e.metric === 'asr' ? `ASR${e.model === 'clean' ? ` (${e.attack} trigger)` : ''}` : 'C-Acc';
  const bound = e.min !== undefined ? `≥ ${100 * e.min}%` : `≤ ${100 * (e.max ?? 1)}%`;
  return `${e.model} model${e.model === 'backdoored' ? ` (${e.attack})` : ''} ${metric} ${bound}`;
}

export function meetsExpectation(e: ModelExpectation, rates: Rates): boolean {
  const x = rates[e.metric];
  return (e.min === undefined || x >= e.min) && (e.max === undefined || x <= e.max);
}
