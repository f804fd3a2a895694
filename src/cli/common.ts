/**
 * What several commands share: the victim model's options (dataset, architecture, attack, training), their
 * translation into an experiment config, the defense settings of --config, and percentage formatting.
 */
import { PATCH_POSITIONS } from '../attacks/badnets';
import { attackNames, attackSpecs } from '../attacks/registry';
import { datasetNames } from '../data/registry';
import { architectureNames } from '../models/model';
import { PartialConfigInput } from '../experiment/config';
import { Experiment } from '../experiment/runner';
import { ProgressMode } from '../train/progress';
import { CommandSpec, ParsedArgs, UsageError } from './args';

/** Attacks that backdoor a model (every registered attack; `none` is the clean model). */
export const BACKDOORS = attackNames();
/** Attacks whose settings are a section of their own, which --attack-config fills. */
const WITH_SECTION = attackSpecs().filter((s) => s.placement !== 'top-level').map((s) => s.name);
const orList = (xs: string[]) => (xs.length > 1 ? `${xs.slice(0, -1).join(', ')} and ${xs[xs.length - 1]}` : xs.join(''));

/** The registered datasets and architectures, as this process loaded them. */
export const DATASETS = datasetNames();
const ARCHITECTURES = architectureNames();

export const commonOptions = [
  { name: 'dataset', type: 'string', help: 'dataset', default: 'fashion-mnist', choices: DATASETS },
  { name: 'data-dir', type: 'string', help: 'directory holding the dataset files (else the standard places)' },
  { name: 'model', type: 'string', help: 'architecture', default: 'cnn', choices: ARCHITECTURES },
  { name: 'widths', type: 'list', help: 'channels per stage, comma-separated (architecture default if absent)' },
  { name: 'depth', type: 'list', help: 'preact-resnet / resnet18 blocks per stage, comma-separated' },
  { name: 'target', type: 'int', help: 'target class of the backdoor', default: 0 },
  { name: 'poison-rate', type: 'number', help: 'fraction of the training set poisoned (default 0.05; 0.1 for lc)' },
  { name: 'patch-size', type: 'int', help: 'BadNets patch side in pixels', default: 3 },
  { name: 'patch-position', type: 'string', help: 'BadNets patch corner', default: 'bottom-right', choices: [...PATCH_POSITIONS] },
  { name: 'blend-alpha', type: 'number', help: 'Blended trigger weight', default: 0.2 },
  { name: 'blend-pattern', type: 'string', help: 'PNG/PNM image to blend (seeded noise if absent)' },
  { name: 'attack-config', type: 'string', help: `settings of a ${WITH_SECTION.join('/')} attack as JSON, e.g. '{"delta":30}'` },
  { name: 'epochs', type: 'int', help: 'training epochs (config default if absent)' },
  { name: 'lr', type: 'number', help: 'initial learning rate (config default if absent)' },
  { name: 'batch-size', type: 'int', help: 'batch size (config default if absent)' },
  { name: 'seed', type: 'int', help: 'seed for splits, poisoning, init and shuffling', default: 0 },
  { name: 'runs-dir', type: 'string', help: 'artifact cache directory', default: 'runs' },
  { name: 'backend', type: 'string', help: 'force a TF.js backend (else tfjs-node if installed, then wasm)', choices: ['node', 'wasm', 'cpu'] },
  { name: 'engine', type: 'string', help: 'force the compute engine (default: native when its addon loaded, else wasm; env SUPERFICIAL_SAFETY_ENGINE)', choices: ['native', 'wasm'] },
  { name: 'threads', type: 'int', help: 'native engine threads (default 1; env SUPERFICIAL_SAFETY_THREADS)' },
  { name: 'width', type: 'number', help: 'resnet18 channel multiplier (0.25 = 16-32-64-128)' },
  { name: 'progress', type: 'string', help: 'progress display', default: 'auto', choices: ['auto', 'bar', 'lines', 'silent'] },
  { name: 'json', type: 'flag', help: 'print the result as JSON instead of a table row' },
  { name: 'help', type: 'flag', help: 'show this help' },
] satisfies CommandSpec['options'];

/**
 * The options of commands that start from a cached model: its training options keep their defaults, so the
 * cached model is found (the command's own --epochs/--lr/--batch-size, if any, are the defense's).
 */
export const victimOptions = commonOptions.filter((o) => !['epochs', 'lr', 'batch-size'].includes(o.name));

export function configFrom(a: ParsedArgs, attack: string): PartialConfigInput {
  const num = (v: unknown) => (v === undefined ? undefined : Number(v));
  const list = (v: unknown) => (v === undefined ? undefined : (v as string[]).map(Number));
  const train: Record<string, unknown> = {};
  if (a.epochs !== undefined) train.epochs = a.epochs;
  if (a.lr !== undefined) train.lr = a.lr;
  if (a.batchSize !== undefined) train.batchSize = a.batchSize;
  let section: Record<string, unknown> = {};
  if (a.attackConfig !== undefined) {
    try {
      section = JSON.parse(a.attackConfig as string);
    } catch (e) {
      throw new UsageError(`--attack-config must be JSON, e.g. '{"delta":30}' (${(e as Error).message})`);
    }
    if (!WITH_SECTION.includes(attack)) throw new UsageError(`--attack-config applies to ${orList(WITH_SECTION)}, not ${attack}`);
  }
  return {
    dataset: a.dataset as 'fashion-mnist',
    dataDir: a.dataDir as string | undefined,
    model: { arch: a.model as 'cnn', widths: list(a.widths), depth: list(a.depth), ...(a.width !== undefined ? { width: num(a.width) } : {}) },
    attack: {
      name: attack as 'badnets', target: num(a.target), poisonRate: num(a.poisonRate), patchSize: num(a.patchSize),
      patchPosition: a.patchPosition as 'bottom-right',
      blendAlpha: num(a.blendAlpha), blendPattern: a.blendPattern as string | undefined,
      ...(a.attackConfig !== undefined ? { [attack]: section } : {}),
    },
    train,
    seed: num(a.seed),
    runsDir: a.runsDir as string,
  };
}

/** The experiment of the cached model a command starts from (`--attack`, default training settings). */
export function victimExperiment(a: ParsedArgs, overrides: ParsedArgs = {}): Experiment {
  const victim = configFrom({ ...a, ...overrides, epochs: undefined, lr: undefined, batchSize: undefined }, a.attack as string);
  return new Experiment(victim, { progress: a.progress as ProgressMode });
}

/** --config (a JSON object) plus the command's --epochs/--lr/--batch-size, as a defense's config overrides. */
export function defenseConfigFrom(a: ParsedArgs): Record<string, unknown> {
  let extra: Record<string, unknown> = {};
  if (a.config !== undefined) {
    try {
      extra = JSON.parse(a.config as string);
    } catch (e) {
      throw new UsageError(`purify: --config must be JSON, e.g. '{"alpha":0.1}' (${(e as Error).message})`);
    }
    if (typeof extra !== 'object' || extra === null || Array.isArray(extra)) throw new UsageError('purify: --config must be a JSON object');
  }
  const out: Record<string, unknown> = { ...extra };
  if (a.epochs !== undefined) out.epochs = a.epochs;
  if (a.lr !== undefined) out.lr = a.lr;
  if (a.batchSize !== undefined) out.batchSize = a.batchSize;
  return out;
}

/** --config alone, for commands whose --epochs etc. are not the defense's; undefined when absent. */
export function configOnly(a: ParsedArgs): Record<string, unknown> | undefined {
  return a.config === undefined ? undefined : defenseConfigFrom({ config: a.config });
}

export const pct = (x: number) => (Number.isFinite(x) ? `${(x * 100).toFixed(2)}%` : 'n/a');
