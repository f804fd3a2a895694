/**
 * The foundation's figures from real results: C-Acc and ASR of the backdoored and clean models, and a grid
 * of clean vs. triggered test images. Used by `superficial-safety baseline --figures DIR` for the README.
 */
import { attackLabel } from '../attacks/registry';
import { applyTrigger, Trigger } from '../attacks/trigger';
import { Dataset } from '../data/dataset';
import { groupedBars, imageGrid } from './figures';
import type { Figure } from './types';

export interface BaselineRow {
  /** An attack's name, or 'none' (the clean model). */
  attack: string;
  cleanAccuracy: number;
  asr: number;
}

export function baselineBars(rows: BaselineRow[], title: string): Figure {
  const label = (a: string) => (a === 'none' ? 'Clean model (BadNets trigger)' : `${attackLabel(a)} model`);
  return groupedBars({
    title,
    categories: rows.map((r) => label(r.attack)),
    series: [
      { name: 'C-Acc', values: rows.map((r) => 100 * r.cleanAccuracy) },
      { name: 'ASR', values: rows.map((r) => 100 * r.asr) },
    ],
    xTitle: 'Model', yTitle: 'Rate (%)', yRange: [0, 100],
  });
}

/** One test image per class (first `count` classes), clean and with each trigger. */
export function triggerGrid(test: Dataset, triggers: { name: string; trigger: Trigger }[], count: number,
  classNames?: readonly string[]): Figure {
  const picks: number[] = [];
  for (let c = 0; c < Math.min(count, test.numClasses); c++) {
    const i = test.labels.findIndex((y) => y === c);
    if (i >= 0) picks.push(i);
  }
  const size = test.height * test.width * test.channels;
  const cell = (d: Dataset, i: number) => ({
    pixels: d.images.subarray(i * size, (i + 1) * size), height: d.height, width: d.width,
    channels: d.channels as 1 | 3,
  });
  const rows = [{ name: 'clean', data: test }, ...triggers.map((t) => ({ name: t.name, data: applyTrigger(test, t.trigger, picks) }))];
  return imageGrid({
    title: `${test.name}: clean and triggered test images`,
    images: rows.map((r) => picks.map((i) => cell(r.data, i))),
    rowTitles: rows.map((r) => r.name),
    colTitles: picks.map((i) => classNames?.[test.labels[i]] ?? `class ${test.labels[i]}`),
  });
}
