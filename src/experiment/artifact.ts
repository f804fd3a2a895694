import { createHash } from 'crypto';
import { createReadStream, promises as fs } from 'fs';
import * as path from 'path';
import { z } from 'zod';
import { isErrnoCode } from '../io/durable';
import { contentHash } from '../io/hash';
import { readJson, writeJsonAtomic } from '../io/json';

/*
 * artifact.json: the record that makes a directory a finished artifact. It says what the files were
 * computed from (so a result can be traced to its exact config) and what the files were when written
 * (size + sha256, so truncation or later edits are caught before anything reads them).
 */

export const ARTIFACT_RECORD = 'artifact.json';

export interface FileDigest {
  size: number;
  sha256: string;
}

const FileDigestSchema = z.object({
  size: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits'),
});

export const ArtifactRecordSchema = z.object({
  version: z.literal(1),
  stage: z.string(),
  key: z.string(),
  config: z.unknown(),
  inputs: z.array(z.string()),
  createdAt: z.string(),
  durationMs: z.number().nonnegative(),
  /** The host (and Slurm job) that computed it; absent in artifacts written before it was recorded. Not part of the key. */
  ranOn: z.object({
    host: z.string(), pid: z.number(), slurmJobId: z.string().optional(), slurmNode: z.string().optional(),
    engine: z.string().optional(), threads: z.number().optional(),
  }).optional(),
  /** Relative, '/'-separated paths of every file in the artifact except artifact.json itself. */
  files: z.record(FileDigestSchema),
});

export type ArtifactRecord = z.infer<typeof ArtifactRecordSchema>;

/** The cache key of a stage run: what was computed, from which settings, on which inputs (order matters). */
export function artifactKey(stage: string, config: unknown, inputKeys: readonly string[]): string {
  return contentHash({ stage, config, inputs: inputKeys });
}

export async function digestFile(file: string): Promise<FileDigest> {
  // Streamed so that large artifacts (poisoned datasets) are not held in memory twice.
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(file)) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { size, sha256: hash.digest('hex') };
}

/** Digest every file under `dir` (recursively), keyed by relative '/'-separated path. */
export async function digestTree(dir: string): Promise<Record<string, FileDigest>> {
  const out: Record<string, FileDigest> = {};
  const walk = async (rel: string): Promise<void> => {
    const entries = await fs.readdir(path.join(dir, rel), { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const relPath = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(relPath);
      else if (e.isFile()) {
        if (relPath !== ARTIFACT_RECORD) out[relPath] = await digestFile(path.join(dir, relPath));
      } else {
        // A link could point anywhere and change later; an artifact must hold its own bytes.
        throw new Error(`${path.join(dir, relPath)}: artifacts may contain only regular files and directories`);
      }
    }
  };
  await walk('');
  return out;
}

/** Seal a finished computation: digest its files and write artifact.json (last, so its presence means "complete"). */
export async function writeRecord(
  dir: string,
  fields: Omit<ArtifactRecord, 'version' | 'files'>,
): Promise<ArtifactRecord> {
  const record: ArtifactRecord = { version: 1, ...fields, files: await digestTree(dir) };
  await writeJsonAtomic(path.join(dir, ARTIFACT_RECORD), record);
  return record;
}

/**
 * Check that `dir` is the intact artifact `stage/key`. Returns a description of everything wrong,
 * or null when it is sound. Never throws for a damaged artifact: damage is an answer, not a failure.
 */
export async function verifyArtifact(dir: string, stage: string, key: string): Promise<string | null> {
  let raw: unknown;
  try {
    raw = await readJson(path.join(dir, ARTIFACT_RECORD));
  } catch (err) {
    return (err as Error).message;
  }
  const parsed = ArtifactRecordSchema.safeParse(raw);
  if (!parsed.success) {
    const fields = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    return `${ARTIFACT_RECORD} is malformed: ${fields.join('; ')}`;
  }
  const record = parsed.data;
  if (record.stage !== stage || record.key !== key) {
    return `${ARTIFACT_RECORD} describes ${record.stage}/${record.key}, not ${stage}/${key}`;
  }
  // The recorded provenance must still hash to the directory's key, or the record was edited.
  const recomputed = artifactKey(record.stage, record.config, record.inputs);
  if (recomputed !== key) {
    return `${ARTIFACT_RECORD}: config/inputs hash to ${recomputed}, not to the directory key ${key} (edited?)`;
  }

  const problems: string[] = [];
  for (const [rel, want] of Object.entries(record.files)) {
    if (!isSafeRelativePath(rel)) {
      problems.push(`${ARTIFACT_RECORD} lists "${rel}", which points outside the artifact`);
      continue;
    }
    let got: FileDigest;
    try {
      got = await digestFile(path.join(dir, rel));
    } catch (err) {
      problems.push(isErrnoCode(err, 'ENOENT') ? `file "${rel}" is missing` : `file "${rel}" cannot be read (${(err as Error).message})`);
      continue;
    }
    if (got.size !== want.size) {
      problems.push(`file "${rel}" is ${got.size} bytes, expected ${want.size}${got.size < want.size ? ' (truncated?)' : ''}`);
    } else if (got.sha256 !== want.sha256) {
      problems.push(`file "${rel}" has sha256 ${got.sha256.slice(0, 12)}..., expected ${want.sha256.slice(0, 12)}... (modified after it was written?)`);
    }
  }
  return problems.length ? problems.join('; ') : null;
}

function isSafeRelativePath(rel: string): boolean {
  if (rel === '' || rel.startsWith('/') || rel.includes('\\') || /^[A-Za-z]:/.test(rel)) return false;
  return rel.split('/').every((part) => part !== '' && part !== '.' && part !== '..');
}
