/**
 * What an attack is to the rest of the project: one `AttackSpec` per file in src/attacks/, listed in
 * registry.ts. The experiment config, the CLI, the study and the report read everything they need about an
 * attack from its spec, so they never name one.
 */
import { z } from 'zod';
import { Dataset } from '../data/dataset';
import { ProgressMode } from '../train/progress';
import { PoisonedSet } from './poison';
import { Trigger } from './trigger';

/** The fields every parsed attack config has; an attack's own settings sit beside them (see AttackSpec.placement). */
export interface AttackConfig {
  readonly name: string;
  /** Class the backdoor sends triggered inputs to. */
  readonly target: number;
  /** Fraction of the training set that is poisoned. */
  readonly poisonRate: number;
  /** Seed of a pattern the attacker draws (Blended's noise, WaNet's warp). */
  readonly patternSeed: number;
  readonly [field: string]: unknown;
}

/** The part of the artifact store an attack's assets use (the experiment's ArtifactStore is one). */
export interface AssetStore {
  getOrCompute<T>(stage: string, config: unknown, inputKeys: readonly string[], spec: {
    compute: (tmpDir: string) => Promise<T>;
    load: (dir: string) => Promise<T>;
    log?: (message: string) => void;
  }): Promise<{ value: T; key: string }>;
}

/** What an asset hook gets: the data it may train on, and where to cache what it trains. */
export interface AssetContext {
  train: Dataset;
  /** Content key of `train`: an asset stage lists it as an input so the poison stage's key covers both. */
  dataKey: string;
  /** The experiment's seed. */
  seed: number;
  store: AssetStore;
  log: (line: string) => void;
  progress?: ProgressMode;
}

export interface PoisonContext<A> {
  attack: AttackConfig;
  /** The experiment's seed: which images are poisoned. */
  seed: number;
  /** What the asset hook returned; undefined for an attack without one. */
  asset: A;
  progress?: ProgressMode;
}

/**
 * One attack. `S` is its parsed settings, `A` what its asset hook trains (undefined when it has none).
 * Method syntax on purpose: the registry holds specs of every `S` and `A` as one `AnyAttackSpec`.
 */
export interface AttackSpec<S, A = undefined> {
  /** Config and CLI name: lower-case, also a path segment of cell ids. */
  readonly name: string;
  /** How tables and figures name it. */
  readonly label: string;
  /** Its settings, every field defaulted: a strict z.object, so a misspelt field is refused. */
  readonly settings: z.ZodType<S, z.ZodTypeDef, unknown> & { readonly shape: z.ZodRawShape };
  /**
   * 'section' (the default): the settings are `attack.<name>`, present only when this attack is chosen.
   * 'top-level': they are fields of every attack config, chosen or not, where BadNets' and Blended's were before
   * sections existed; kept so that the cache keys of every existing experiment stay the same. New attacks use a section.
   */
  readonly placement?: 'section' | 'top-level';
  /** Clean-label attacks poison target-class images only and keep every label; dirty-label ones relabel. */
  readonly cleanLabel: boolean;
  /** Its default poisoning rate, when not the 0.05 every other attack uses. */
  readonly defaultPoisonRate?: number;
  /** Whether the poison stage stores the poisoned pixels, because they come out of a network or an optimisation. */
  readonly storesPixels?: boolean;
  /** Rough single-core seconds of its backdoored-model cell in the full study, assets included (scheduling only). */
  readonly modelCost?: number;
  /** The test-time trigger. */
  trigger(settings: S, attack: AttackConfig, asset: A): Trigger;
  /** Its own poisoning; absent: the shared dirty- or clean-label poisoning (poison.ts) with `trigger`. */
  poison?(train: Dataset, trigger: Trigger, settings: S, ctx: PoisonContext<A>): PoisonedSet;
  /** Trains what it needs before poisoning, as cached stages of `ctx.store`; `key` joins the poison stage's inputs. */
  assets?(settings: S, ctx: AssetContext): Promise<{ value: A; key: string }>;
  /** Frees what poisoning needed but the trigger does not. */
  releaseAfterPoisoning?(asset: A): void;
}

export type AnyAttackSpec = AttackSpec<any, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
