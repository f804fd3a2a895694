/**
 * A settings sweep (issue 15, claim 4 "the pattern holds across settings"): the study's graph once per
 * setting, one factor changed at a time around the default (target class, patch corner, poisoning rate,
 * dataset, architecture). A sweep file names the settings and, per setting, which analyses run; every
 * setting is an ordinary study (`StudyConfig.setting`), so its cells are cached like the study's and a rerun
 * or an interrupted run continues where it stopped. The setting with no overrides is the default study
 * itself: its cells are the plain `reproduce` cells and are shared with it.
 */
import * as fs from 'fs';
import * as path from 'path';
import { z } from 'zod';
import { PATCH_POSITIONS } from '../attacks/badnets';
import { attackNames } from '../attacks/registry';
import { datasetNames } from '../data/registry';
import { architectureNames } from '../models/model';
import { registeredName } from './config';
import { Cell, planStudy, StudyConfig } from './study';

const attackName = () => z.string().refine((a) => attackNames().includes(a), (a) => ({ message: `unknown attack "${a}" (attacks: ${attackNames().join(', ')})` }));

const SettingSchema = z.object({
  name: z.string().regex(/^[a-z0-9][a-z0-9.-]*$/, 'must be lower-case letters, digits, "." and "-" (it prefixes cell ids)'),
  /** Why this setting is in the sweep, shown in the report. */
  about: z.string().optional(),
  target: z.number().int().min(0).optional(),
  patchPosition: z.enum(PATCH_POSITIONS).optional(),
  poisonRate: z.number().gt(0).lt(1).optional(),
  dataset: registeredName(datasetNames).optional(),
  model: z.object({
    arch: registeredName(architectureNames),
    widths: z.array(z.number().int().min(1)).optional(),
    depth: z.array(z.number().int().min(1)).optional(),
    width: z.number().positive().optional(),
  }).strict().optional(),
  /** Per-setting overrides of the sweep's attacks, defenses, seeds and analyses. */
  attacks: z.array(attackName()).min(1).optional(),
  defenses: z.array(z.string()).min(1).optional(),
  seeds: z.array(z.number().int().min(0)).min(1).optional(),
  retune: z.boolean().optional(),
  lmc: z.boolean().optional(),
  qra: z.boolean().optional(),
}).strict();

export const SweepSchema = z.object({
  description: z.string().optional(),
  dataset: registeredName(datasetNames).default('fashion-mnist'),
  attacks: z.array(attackName()).min(1),
  defenses: z.array(z.string()).min(1),
  seeds: z.array(z.number().int().min(0)).min(1).default([0]),
  retune: z.boolean().default(true),
  lmc: z.boolean().default(false),
  qra: z.boolean().default(false),
  /** What the sweep leaves out and why, printed in the report next to its results. */
  leftOut: z.array(z.string()).default([]),
  settings: z.array(SettingSchema).min(1),
}).strict().superRefine((s, ctx) => {
  const names = s.settings.map((x) => x.name);
  names.forEach((n, i) => {
    if (names.indexOf(n) !== i) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['settings', i, 'name'], message: `"${n}" is used twice` });
  });
  if (s.settings.filter(isDefault).length > 1) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['settings'], message: 'only one setting may leave every factor at its default' });
  }
});

export type SweepSetting = z.infer<typeof SettingSchema>;
export type Sweep = z.infer<typeof SweepSchema>;

/** A setting that changes no factor: the default study. */
function isDefault(s: SweepSetting): boolean {
  return s.target === undefined && s.patchPosition === undefined && s.poisonRate === undefined && s.dataset === undefined && s.model === undefined;
}

export function parseSweep(raw: unknown, where = 'sweep'): Sweep {
  const r = SweepSchema.safeParse(raw);
  if (!r.success) {
    throw new Error(`${where} is not a valid sweep: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  }
  return r.data;
}

export function readSweep(file: string): Sweep {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`cannot read the sweep file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file} is not valid JSON (${(e as Error).message})`);
  }
  return parseSweep(raw, path.basename(file));
}

/** One study per setting, in the file's order. */
export function sweepStudies(sweep: Sweep, base: { runsDir: string; dataDir?: string; quick: boolean }): StudyConfig[] {
  return sweep.settings.map((s) => ({
    dataset: s.dataset ?? sweep.dataset,
    dataDir: base.dataDir,
    attacks: [...(s.attacks ?? sweep.attacks)],
    defenses: [...(s.defenses ?? sweep.defenses)],
    seeds: [...(s.seeds ?? sweep.seeds)],
    quick: base.quick,
    runsDir: base.runsDir,
    pamRhos: [],
    retune: s.retune ?? sweep.retune,
    lmc: s.lmc ?? sweep.lmc,
    qra: s.qra ?? sweep.qra,
    ...(isDefault(s) ? {} : {
      setting: {
        name: s.name,
        ...(s.target !== undefined ? { target: s.target } : {}),
        ...(s.patchPosition !== undefined ? { patchPosition: s.patchPosition } : {}),
        ...(s.poisonRate !== undefined ? { poisonRate: s.poisonRate } : {}),
        ...(s.model !== undefined ? { model: s.model } : {}),
      },
    }),
  }));
}

/** The setting name a study is shown under (the default study has none of its own). */
export function settingName(sweep: Sweep, i: number): string {
  return sweep.settings[i].name;
}

/** Every cell of every setting; ids are unique because non-default settings prefix theirs. */
export function planSweep(studies: StudyConfig[]): { study: StudyConfig; cell: Cell }[] {
  return studies.flatMap((study) => planStudy(study).map((cell) => ({ study, cell })));
}

/**
 * The sweep a QUICK run (notebook 05's headless check) uses: the default setting and the first other one,
 * BadNets only, EP, FST, BTI and PAM — enough to exercise every part of the sweep report in a few minutes.
 * It checks the pipeline, never the claim.
 */
export function quickSweep(sweep: Sweep): Sweep {
  const keep = ['EP', 'FST', 'BTI', 'PAM'];
  const settings = [sweep.settings.find(isDefault), sweep.settings.find((s) => !isDefault(s))]
    .filter((s): s is SweepSetting => !!s)
    .map((s) => ({ ...s, attacks: ['badnets' as const], defenses: undefined, lmc: false, qra: false }));
  return { ...sweep, attacks: ['badnets'], defenses: sweep.defenses.filter((d) => keep.includes(d.toUpperCase())), settings };
}
