/**
 * The public API in one import (`require('superficial-safety')`, or `../dist` from a notebook): the entry
 * points a study and its notebooks use. Everything else stays importable from its own module under dist/.
 * test/index.test.ts fails if a notebook imports a name from ../dist that is not here.
 */
// A notebook's set-up (startNotebook also starts the engine), its live progress line, and the engine itself.
export { startNotebook, setupNotebook, isQuick, type NotebookContext, type NotebookSession } from './notebook/env';
export { liveLine } from './io/display';
export { initEngine, describeEngine, type EngineInfo } from './engine/backend';

// One configured pipeline, a study of many, and a study run with its report.
export { parseConfig, ConfigError, type ExperimentConfig, type PartialConfigInput } from './experiment/config';
export { Experiment } from './experiment/runner';
export { purify } from './experiment/purify';
export { retune, lmc, qra, qraTransferMatrix } from './experiment/stages';
export type { Subject, StageOptions } from './experiment/subject';
export { planStudy, type StudyConfig, type Cell, type CellSummary } from './experiment/study';
// The study's own choices, so a notebook computes (or loads from the cache) the same cells as `npm run reproduce`.
export { quickShrink, studyAttacks, studyLmcTs, studyQraConfig, qraSubjects } from './experiment/study';
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

// Triggers, images and models by hand: stamping a trigger to show it, a batch as a tensor, freeing a model's weights.
export { badnets } from './attacks/badnets';
export { blended } from './attacks/blended';
export { applyTrigger, type Trigger } from './attacks/trigger';
export { backdoorTestSet } from './attacks/poison';
export { subset, type Dataset } from './data/dataset';
export { FASHION_MNIST_CLASS_NAMES } from './data/fashionMnist';
export { batchTensor } from './train/augment';
export { disposeModel } from './models/model';

// The reactivation attacks and analyses on models directly (retune, lmc and qra above are their cached stages).
export { retuningAttack, type RetuningConfig } from './reactivation/retuning';
export { trainQra, evaluateQra, perturb, type QraConfig } from './reactivation/qra';
export { linearPath, interpolateModel } from './analysis/lmc';
export { becReference, becOf } from './analysis/bec';

export { checkClaims, checkClaim4, claimsMarkdown } from './report/claims';
// The claims' rules and per-pair verdicts, so a notebook grades what it shows with the report's own text and thresholds.
export {
  BASELINES, RA_REFERENCES, PURIFIED_RULE, purifiedVerdict, REACTIVATED_RULE, reactivatedByRa, RESISTS_RA_RULE, resistsRa,
  QRA_REACTIVATED_RULE, qraVerdict, LMC_RULE, lmcPathHolds,
} from './report/claims';
// What the spec expects of the backdoored and clean models before any defense, as rules and a check.
export { MODEL_EXPECTATIONS, expectationRule, meetsExpectation } from './report/modelChecks';
export { collectResults, CLEAN, NO_DEFENSE, methodPamRho } from './report/studyResults';
export { settingCaption, studyFigures, tableRows, writeReport } from './report/studyReport';
export { sweepResults, acrossSettings, sweepFigures, writeSweepReport } from './report/sweepReport';
export { becPairs, becFigures, becVsLmc, checkBecClaim } from './report/becReport';

export { show, aq, groupedBars, linePlot, heatmap, imageGrid, toPaperLayout, toMarkdown, toCsv } from './viz';
// Synthetic images for figures that need no data (the platform check).
export { syntheticImage, withPatch, withBlend } from './viz/demo';
