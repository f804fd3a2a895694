/**
 * Name → defense. The order is the paper's table order (FT first, as the plain baseline); notebooks and the
 * CLI list defenses from here, so a defense appears everywhere once it has its entry. Lookup ignores case.
 */
import { ConfigurableDefense } from './config';
import { ep } from './ep';
import { fst } from './fst';
import { ft } from './ft';
import { sam } from './sam';
import { anp } from './anp';
import { anpOracle } from './anpOracle';
import { bau } from './bau';
import { bti } from './bti';
import { pam } from './pam';

let defenses: readonly ConfigurableDefense[] = [];

/**
 * Adds a defense for this process. The defenses below are registered when this module loads, so
 * `reproduce`'s worker threads see them too; a test may register one of its own, which then exists only in
 * its own thread (as `reproduce --workers 0` runs it).
 */
export function registerDefense(d: ConfigurableDefense): void {
  if (!/^[A-Za-z][A-Za-z0-9-]*$/.test(d.name)) throw new Error(`defense name "${d.name}" must be letters, digits and dashes`);
  // Subjects name the backdoored and clean models by these words, and lookup ignores case.
  if (['backdoored', 'clean'].includes(d.name.toLowerCase())) throw new Error(`defense name "${d.name}" is reserved`);
  if (defenses.some((x) => x.name.toLowerCase() === d.name.toLowerCase())) throw new Error(`defense "${d.name}" is already registered`);
  defenses = [...defenses, d];
}

registerDefense(ft);
registerDefense(ep);
registerDefense(anp);
registerDefense(anpOracle);
registerDefense(bau);
registerDefense(sam);
registerDefense(fst);
registerDefense(bti);
registerDefense(pam);

export function defenseNames(): string[] {
  return defenses.map((d) => d.name);
}

export function allDefenses(): ConfigurableDefense[] {
  return [...defenses];
}

export function getDefense(name: string): ConfigurableDefense {
  const d = defenses.find((x) => x.name.toLowerCase() === name.toLowerCase());
  if (!d) throw new Error(`unknown defense "${name}" (defenses: ${defenseNames().join(', ')})`);
  return d;
}
