/** Build a trigger from the experiment config's attack section. */
import { AttackConfig } from '../experiment/config';
import { badnets } from './badnets';
import { blended } from './blended';
import { Trigger } from './trigger';

export function triggerFromConfig(attack: AttackConfig): Trigger {
  switch (attack.name) {
    case 'badnets':
      return badnets({ size: attack.patchSize, position: attack.patchPosition });
    case 'blended':
      return blended({ alpha: attack.blendAlpha, patternFile: attack.blendPattern, patternSeed: attack.patternSeed });
    case 'none':
      throw new Error('attack "none" has no trigger');
  }
}
