import { existsSync, promises as fs } from 'fs';
import * as path from 'path';
import { ARTIFACT_RECORD, artifactKey, verifyArtifact, writeRecord } from './artifact';
import { fsyncDir, isErrnoCode } from '../io/durable';
import { ranOn } from './provenance';

export interface ComputeSpec<T> {
  /**
   * Produce the artifact: write its files into `tmpDir` and return the in-memory value. The directory
   * is renamed afterwards, so the value must not keep paths into it (use the returned `dir` instead).
   */
  compute: (tmpDir: string) => Promise<T>;
  /** Rebuild the value from a finished artifact directory. */
  load: (dir: string) => Promise<T>;
  /** Receives warnings (a corrupt artifact moved aside). Defaults to console.warn. */
  log?: (message: string) => void;
}

export interface CacheResult<T> {
  value: T;
  key: string;
  /** Final artifact directory, runs/<stage>/<key>. */
  dir: string;
  /** True when the value was loaded from an existing artifact rather than computed by this call. */
  cached: boolean;
}

// Stage names become directory names, so they are kept to one plain path segment.
const STAGE_NAME = /^[a-z0-9][a-z0-9._-]*$/i;

/**
 * A content-addressed store of stage outputs: `<root>/<stage>/<key>/`, where key hashes the stage's
 * config slice and the keys of the artifacts it consumed. Identical work is done once; changed
 * settings or inputs get a new key and never overwrite an old result.
 *
 * Safety rules: a final directory only ever appears by an atomic rename of a complete one (with
 * artifact.json written last), and nothing already computed is deleted: damaged artifacts are moved
 * aside as evidence before being recomputed.
 */
export class ArtifactStore {
  constructor(readonly rootDir: string) {}

  key(stage: string, config: unknown, inputKeys: readonly string[]): string {
    checkStage(stage);
    return artifactKey(stage, config, inputKeys);
  }

  dir(stage: string, key: string): string {
    checkStage(stage);
    if (!/^[0-9a-f]+$/.test(key)) throw new Error(`ArtifactStore: key "${key}" is not a hex content hash`);
    return path.join(this.rootDir, stage, key);
  }

  /** Whether a finished artifact is present. Cheap: does not verify checksums (getOrCompute does). */
  has(stage: string, key: string): boolean {
    return existsSync(path.join(this.dir(stage, key), ARTIFACT_RECORD));
  }

  /** null if the artifact is present and intact, otherwise what is wrong with it. */
  async verify(stage: string, key: string): Promise<string | null> {
    const dir = this.dir(stage, key);
    if (!existsSync(dir)) return `${dir} does not exist`;
    return verifyArtifact(dir, stage, key);
  }

  async getOrCompute<T>(stage: string, config: unknown, inputKeys: readonly string[], spec: ComputeSpec<T>): Promise<CacheResult<T>> {
    const log = spec.log ?? ((m: string) => console.warn(m));
    const key = this.key(stage, config, inputKeys);
    const dir = this.dir(stage, key);

    if (existsSync(dir)) {
      const problem = await verifyArtifact(dir, stage, key);
      if (problem === null) {
        try {
          return { value: await spec.load(dir), key, dir, cached: true };
        } catch (err) {
          // Checksums matched, so the files are what compute wrote: the loader is at fault, not the data.
          throw new Error(`${stage}/${key}: artifact is intact but load() failed: ${(err as Error).message}`, { cause: err });
        }
      }
      const aside = await moveAside(dir);
      log(`warning: artifact ${stage}/${key} is corrupt (${problem}); moved to ${aside ?? '(already gone)'} and recomputing`);
    }

    const stageDir = path.join(this.rootDir, stage);
    await fs.mkdir(stageDir, { recursive: true });
    // Same directory as the final one, so the closing rename cannot cross filesystems.
    const tmpDir = await fs.mkdtemp(path.join(stageDir, `.tmp-${key}-`));
    let value: T;
    try {
      const started = Date.now();
      value = await spec.compute(tmpDir);
      await writeRecord(tmpDir, {
        stage,
        key,
        config,
        inputs: [...inputKeys],
        createdAt: new Date(started).toISOString(),
        durationMs: Date.now() - started,
        ranOn: ranOn(),
      });
    } catch (err) {
      await fs.rm(tmpDir, { recursive: true, force: true });
      throw err;
    }

    try {
      await fs.rename(tmpDir, dir);
      await fsyncDir(stageDir);
    } catch (err) {
      // Another process finished the same work first. Its result is equivalent; keep it, drop ours.
      if (!existsSync(path.join(dir, ARTIFACT_RECORD))) throw err;
      await fs.rm(tmpDir, { recursive: true, force: true });
    }
    return { value, key, dir, cached: false };
  }
}

function checkStage(stage: string): void {
  if (!STAGE_NAME.test(stage)) {
    throw new Error(`ArtifactStore: stage "${stage}" must be letters, digits, '.', '_' or '-' (it becomes a directory name)`);
  }
}

/** Rename a damaged artifact to <dir>.corrupt-<timestamp>; returns the new path, or null if it vanished meanwhile. */
async function moveAside(dir: string): Promise<string | null> {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  for (let attempt = 0; ; attempt++) {
    const target = `${dir}.corrupt-${stamp}${attempt ? `-${attempt}` : ''}`;
    if (existsSync(target)) continue;
    try {
      await fs.rename(dir, target);
      return target;
    } catch (err) {
      if (isErrnoCode(err, 'ENOENT')) return null; // another process moved it first
      if (!isErrnoCode(err, 'EEXIST', 'ENOTEMPTY') || attempt > 100) throw err;
    }
  }
}
