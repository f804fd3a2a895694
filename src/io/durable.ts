import { randomBytes } from 'crypto';
import { mkdirSync, renameSync, rmSync, writeFileSync, promises as fs } from 'fs';
import * as path from 'path';

/*
 * Building blocks for crash-safe writes: write to a temporary name in the target's own directory,
 * fsync, then rename over the target. Rename is atomic only within one filesystem, hence the same
 * directory; the fsync makes sure the bytes reach disk before the name does, so a crash leaves either
 * the old file or the complete new one, never a torn one.
 */

/** A fresh temporary name next to `target`, unique across processes. */
export function tempPathFor(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/** Write `data` to `file` (created or truncated) and fsync it before returning. */
export async function writeFileSynced(file: string, data: Uint8Array | string): Promise<void> {
  const handle = await fs.open(file, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Persist a rename/creation inside `dir`. Best effort: some filesystems (and Windows) refuse to open directories. */
export async function fsyncDir(dir: string): Promise<void> {
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(dir, 'r');
    await handle.sync();
  } catch {
    // Nothing more we can do; the rename itself is still atomic.
  } finally {
    await handle?.close();
  }
}

/** Atomically replace `file` with `data`: readers see the old content or the new, never a mix. */
export async function writeFileAtomic(file: string, data: Uint8Array | string): Promise<void> {
  const tmp = tempPathFor(file);
  try {
    await writeFileSynced(tmp, data);
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
  await fsyncDir(path.dirname(file));
}

/**
 * Synchronous, weaker form: creates the parent directory and skips the fsyncs, so a crash can lose the new
 * file (fine for downloads, which are fetched again) but never leaves a half-written one under its name.
 */
export function writeFileAtomicSync(file: string, data: Uint8Array | string): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = tempPathFor(file);
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

export function isErrnoCode(err: unknown, ...codes: string[]): boolean {
  return typeof err === 'object' && err !== null && codes.includes((err as NodeJS.ErrnoException).code ?? '');
}
