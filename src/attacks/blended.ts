/**
 * Blended (Chen et al. 2017): x' = (1 − α)·x + α·T in 0–255 pixel space, rounded and clipped to uint8
 * as the paper's code does. The paper blends a Hello Kitty photo (α = 0.2); that asset is not
 * redistributable here, so the default T is a fixed seeded uniform-noise pattern, and any PNG/PNM file
 * can be given instead (resized bilinearly and converted to the dataset's channels).
 */
import { z } from 'zod';
import { fraction, nonEmpty } from '../configFields';
import { Rng } from '../rng';
import { AttackSpec } from './spec';
import { Trigger } from './trigger';

export interface BlendedOptions {
  alpha?: number;
  /** Pattern from an image file; otherwise seeded noise. */
  patternFile?: string;
  patternSeed?: number;
}

export function noisePattern(height: number, width: number, channels: number, seed: number): Uint8Array {
  const rng = Rng.derive(seed, 'blended-pattern');
  const p = new Uint8Array(height * width * channels);
  for (let i = 0; i < p.length; i++) p[i] = Math.floor(rng.next() * 256);
  return p;
}

export function blended(opts: BlendedOptions = {}): Trigger {
  const alpha = opts.alpha ?? 0.2;
  if (!(alpha > 0 && alpha <= 1)) throw new Error(`blended: alpha must be in (0, 1] (got ${alpha})`);
  const cache = new Map<string, Uint8Array>();
  const pattern = (h: number, w: number, c: number): Uint8Array => {
    const key = `${h}x${w}x${c}`;
    const cached = cache.get(key);
    if (cached) return cached;
    let p: Uint8Array;
    {
      if (opts.patternFile) {
        // Loaded lazily so the image decoder is only needed when a file is used.
        // eslint-disable-next-line @typescript-eslint/no-var-requires
        const img = require('../data/imageFile') as typeof import('../data/imageFile');
        p = img.resizeBilinear(img.toChannels(img.readImageFile(opts.patternFile), c as 1 | 3), h, w).pixels;
      } else {
        p = noisePattern(h, w, c, opts.patternSeed ?? 0);
      }
      cache.set(key, p);
    }
    return p;
  };
  const source = opts.patternFile ? `file` : `noise${opts.patternSeed ?? 0}`;
  return {
    name: `blended-${source}-a${alpha}`,
    stamp(image, height, width, channels) {
      const p = pattern(height, width, channels);
      for (let i = 0; i < image.length; i++) {
        const v = Math.round((1 - alpha) * image[i] + alpha * p[i]);
        image[i] = v < 0 ? 0 : v > 255 ? 255 : v;
      }
    },
  };
}

const settings = z
  .object({
    /** Weight of the blend pattern: x' = (1 - alpha) x + alpha pattern. */
    blendAlpha: fraction().default(0.2),
    /** Image file to blend in; a seeded noise pattern (attack.patternSeed) is used when absent. */
    blendPattern: nonEmpty().optional(),
  })
  .strict();

export const blendedAttack: AttackSpec<z.output<typeof settings>> = {
  name: 'blended',
  label: 'Blended',
  settings,
  placement: 'top-level',
  cleanLabel: false,
  trigger: (s, attack) => blended({ alpha: s.blendAlpha, patternFile: s.blendPattern, patternSeed: attack.patternSeed }),
};
