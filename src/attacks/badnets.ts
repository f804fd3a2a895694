/**
 * BadNets (Gu et al. 2017): a small solid patch. The paper's code replaces the pixels of a 3x3 white
 * square in the bottom-right corner (rows/cols 29–31 of a 32x32 image); here the patch keeps that
 * size and corner for any image size.
 */
import { z } from 'zod';
import { int } from '../configFields';
import { AttackSpec } from './spec';
import { Trigger } from './trigger';

export const PATCH_POSITIONS = ['bottom-right', 'bottom-left', 'top-left', 'top-right'] as const;
export type Corner = (typeof PATCH_POSITIONS)[number];

export interface BadNetsOptions {
  size?: number;
  position?: Corner;
  /** Distance in pixels between the patch and the image border. */
  margin?: number;
  /** Pixel value written into every channel of the patch. */
  value?: number;
}

export function badnets(opts: BadNetsOptions = {}): Trigger {
  const size = opts.size ?? 3;
  const position = opts.position ?? 'bottom-right';
  const margin = opts.margin ?? 0;
  const value = opts.value ?? 255;
  if (!Number.isInteger(size) || size < 1) throw new Error(`badnets: patch size must be a positive integer (got ${size})`);
  if (!Number.isInteger(margin) || margin < 0) throw new Error(`badnets: margin must be a non-negative integer (got ${margin})`);
  if (!Number.isInteger(value) || value < 0 || value > 255) throw new Error(`badnets: value must be 0..255 (got ${value})`);
  return {
    name: `badnets-${size}px-${position}`,
    stamp(image, height, width, channels) {
      if (size + margin > height || size + margin > width) {
        throw new Error(`badnets: a ${size}px patch with margin ${margin} does not fit a ${height}x${width} image`);
      }
      const top = position.startsWith('bottom') ? height - margin - size : margin;
      const left = position.endsWith('right') ? width - margin - size : margin;
      for (let y = top; y < top + size; y++) {
        for (let x = left; x < left + size; x++) {
          const o = (y * width + x) * channels;
          for (let c = 0; c < channels; c++) image[o + c] = value;
        }
      }
    },
  };
}

const settings = z
  .object({
    /** Side of the BadNets square trigger, in pixels. */
    patchSize: int(1).default(3),
    patchPosition: z.enum(PATCH_POSITIONS).default('bottom-right'),
  })
  .strict();

export const badnetsAttack: AttackSpec<z.output<typeof settings>> = {
  name: 'badnets',
  label: 'BadNets',
  settings,
  placement: 'top-level',
  cleanLabel: false,
  trigger: (s) => badnets({ size: s.patchSize, position: s.patchPosition }),
};
