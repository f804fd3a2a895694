/**
 * Name → defense. The order is the paper's table order (FT first, as the plain baseline); notebooks and the
 * CLI list defenses from here, so a defense appears everywhere once it has its entry. Lookup ignores case.
 */
import { ConfigurableDefense } from './config';
import { ep } from './ep';
import { fst } from './fst';
import { ft } from './ft';
import { sam } from './sam';
// ANP: import { anp } from './anp';
// BAU: import { bau } from './bau';
import { bti } from './bti';

const DEFENSES: ConfigurableDefense[] = [
  ft,
  ep,
  // ANP: anp,
  // BAU: bau,
  sam,
  fst,
  bti,
];

export function defenseNames(): string[] {
  return DEFENSES.map((d) => d.name);
}

export function allDefenses(): ConfigurableDefense[] {
  return [...DEFENSES];
}

export function getDefense(name: string): ConfigurableDefense {
  const d = DEFENSES.find((x) => x.name.toLowerCase() === name.toLowerCase());
  if (!d) throw new Error(`unknown defense "${name}" (defenses: ${defenseNames().join(', ')})`);
  return d;
}
