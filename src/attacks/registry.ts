/**
 * Every attack, one line each, in the order configs, the CLI and reports list them; and the generic steps from
 * an attack config to its trigger, its assets and its poisoned training set.
 */
import { Dataset } from '../data/dataset';
import { badnetsAttack } from './badnets';
import { blendedAttack } from './blended';
import { lcAttack } from './lc';
import { poisonCleanLabel, poisonDirtyLabel, PoisonedSet } from './poison';
import { sigAttack } from './sig';
import { AnyAttackSpec, AssetContext, AttackConfig } from './spec';
import { ssbaAttack } from './ssba';
import { Trigger } from './trigger';
import { wanetAttack } from './wanet';

let specs: readonly AnyAttackSpec[] = [];

/**
 * Adds an attack for this process. Static attacks are registered below, so worker threads see them too; a
 * test may register one of its own, which then exists only in its own thread.
 */
export function registerAttack(spec: AnyAttackSpec): void {
  if (!/^[a-z][a-z0-9-]*$/.test(spec.name) || spec.name === 'none') {
    throw new Error(`attack name "${spec.name}" must be lower-case letters, digits and dashes, and not "none"`);
  }
  if (specs.some((s) => s.name === spec.name)) throw new Error(`attack "${spec.name}" is already registered`);
  // A new array, so that whoever built something from the previous one (the config schema) can tell.
  specs = [...specs, spec];
}

registerAttack(badnetsAttack);
registerAttack(blendedAttack);
registerAttack(sigAttack);
registerAttack(wanetAttack);
registerAttack(lcAttack);
registerAttack(ssbaAttack);

/** The registered attacks, in registration order; the same array until the next registerAttack. */
export function attackSpecs(): readonly AnyAttackSpec[] {
  return specs;
}

export function attackNames(): string[] {
  return specs.map((s) => s.name);
}

export function getAttack(name: string): AnyAttackSpec {
  const spec = specs.find((s) => s.name === name);
  if (!spec) throw new Error(`unknown attack "${name}" (attacks: ${attackNames().join(', ')})`);
  return spec;
}

/** How reports name an attack; the name itself for one not registered (the clean model's `none`). */
export function attackLabel(name: string): string {
  return specs.find((s) => s.name === name)?.label ?? name;
}

/** The attack's own settings out of a parsed attack config (its section, or its top-level fields). */
export function settingsOf(attack: AttackConfig): Record<string, unknown> {
  const spec = getAttack(attack.name);
  if (spec.placement === 'top-level') return Object.fromEntries(Object.keys(spec.settings.shape).map((k) => [k, attack[k]]));
  const section = attack[spec.name];
  if (!section) throw new Error(`attack "${spec.name}" has no settings section (parse the config with parseConfig)`);
  return section as Record<string, unknown>;
}

/** The test-time trigger. `asset` is what the attack's assets hook returned (armAttack passes it). */
export function triggerFromConfig(attack: AttackConfig, asset?: unknown): Trigger {
  const spec = getAttack(attack.name);
  if (spec.assets && asset === undefined) {
    throw new Error(`attack "${spec.name}" needs what its assets hook trains first (Experiment.poison() builds it)`);
  }
  return spec.trigger(settingsOf(attack), attack, asset);
}

/** An attack ready to poison: its assets trained (or loaded), its trigger built. */
export interface ArmedAttack {
  trigger: Trigger;
  /** Key of the asset stage, which the poison stage lists as an input; absent when the attack has none. */
  assetKey?: string;
  cleanLabel: boolean;
  storesPixels: boolean;
  /** The victim's poisoned training set. */
  poison(train: Dataset): PoisonedSet;
  /** Frees what only poisoning needed; the trigger stays usable. */
  release(): void;
}

export async function armAttack(attack: AttackConfig, ctx: AssetContext): Promise<ArmedAttack> {
  const spec = getAttack(attack.name);
  const settings = settingsOf(attack);
  const built = spec.assets ? await spec.assets(settings, ctx) : undefined;
  const asset = built?.value;
  const trigger = triggerFromConfig(attack, asset);
  return {
    trigger,
    assetKey: built?.key,
    cleanLabel: spec.cleanLabel,
    storesPixels: spec.storesPixels ?? false,
    poison(train) {
      if (spec.poison) return spec.poison(train, trigger, settings, { attack, seed: ctx.seed, asset, progress: ctx.progress });
      const opts = { rate: attack.poisonRate, target: attack.target, seed: ctx.seed };
      return spec.cleanLabel ? poisonCleanLabel(train, trigger, opts) : poisonDirtyLabel(train, trigger, opts);
    },
    release() {
      if (asset !== undefined) spec.releaseAfterPoisoning?.(asset);
    },
  };
}
