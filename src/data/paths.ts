import * as path from 'path';

/**
 * The package root. This file runs from src/data (ts-jest) and from dist/data (after tsc); both sit two
 * levels below the root, so the same relative path works in either case.
 */
export const PACKAGE_ROOT = path.resolve(__dirname, '../..');

/** Where `npm run data` and downloads put datasets (git-ignored). */
export const LOCAL_DATA_DIR = path.join(PACKAGE_ROOT, 'data');
