/**
 * The public API in one import (`require('superficial-safety')`, or `../dist` from a notebook): the entry
 * points a study and its notebooks use. Everything else stays importable from its own module under dist/.
 */
export { setupNotebook, isQuick, type NotebookContext } from './notebook/env';
export { liveLine } from './io/display';
export { initEngine, describeEngine } from './engine/backend';

// One configured pipeline, a study of many, and a study run with its report.
export { parseConfig, ConfigError, type ExperimentConfig, type PartialConfigInput } from './experiment/config';
export { Experiment } from './experiment/runner';
export { purify } from './experiment/purify';
export { retune, lmc, qra, qraTransferMatrix } from './experiment/stages';
export type { Subject, StageOptions } from './experiment/subject';
export { planStudy, type StudyConfig, type Cell, type CellSummary } from './experiment/study';
export { parseSweep, readSweep, sweepStudies, planSweep, quickSweep, type Sweep } from './experiment/sweep';
export { reproduce, reproduceSweep } from './report/reproduce';
export { evaluate } from './metrics';

export { registerAttack, getAttack, attackNames, attackLabel, attackSpecs } from './attacks/registry';
export type { AttackSpec, AttackConfig } from './attacks/spec';
export { registerDefense, getDefense, defenseNames, allDefenses } from './defenses/registry';
export type { ConfigurableDefense } from './defenses/config';
export { registerDataset, datasetNames, type DatasetSource } from './data/registry';
export { registerArchitecture, architectureNames } from './models/model';
export type { ArchitectureImpl } from './models/spec';
export type { Defense, DefenseData, DefenseResult, DefenseReport } from './defenses/types';

// The reactivation attacks and analyses on models directly (retune, lmc and qra above are their cached stages).
export { retuningAttack, type RetuningConfig } from './reactivation/retuning';
export { trainQra, evaluateQra, perturb, type QraConfig } from './reactivation/qra';
export { linearPath, interpolateModel } from './analysis/lmc';
export { becReference, becOf } from './analysis/bec';

export { checkClaims, checkClaim4, claimsMarkdown } from './report/claims';
export { collectResults } from './report/studyResults';
export { settingCaption, studyFigures, tableRows, writeReport } from './report/studyReport';
export { sweepResults, acrossSettings, sweepFigures, writeSweepReport } from './report/sweepReport';
export { becPairs, becFigures, becVsLmc, checkBecClaim } from './report/becReport';

export { show, aq, groupedBars, linePlot, heatmap, imageGrid, toPaperLayout, toMarkdown, toCsv } from './viz';
