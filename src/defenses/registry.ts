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

const DEFENSES: ConfigurableDefense[] = [
  ft,
  ep,
  anp,
  anpOracle,
  bau,
  sam,
  fst,
  bti,
  pam,
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
