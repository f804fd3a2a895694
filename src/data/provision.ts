/**
 * `npm run data`: make Fashion-MNIST available, preferring what needs no network trust.
 * Order: already present → Debian package (root on Debian) → verified download into data/fashion-mnist.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import { downloadFashionMnist, FashionMnistOptions, findFashionMnist, notFoundMessage } from './fashionMnist';

export interface ProvisionResult {
  action: 'already-present' | 'apt' | 'download';
  dir: string;
}

export interface ProvisionOptions
  extends Pick<FashionMnistOptions, 'dir' | 'localDir' | 'systemDir' | 'downloadBaseUrl' | 'expectedSha256'> {
  /** Whether to try apt-get; defaults to "root on a system with /usr/bin/apt-get". */
  useApt?: boolean;
  /** Runs a command and returns its exit status; replaceable so tests need not run apt. */
  runCommand?: (cmd: string, args: string[]) => number;
}

export async function provisionFashionMnist(
  log: (s: string) => void, opts: ProvisionOptions = {},
): Promise<ProvisionResult> {
  const present = findFashionMnist(opts);
  if (present) {
    log(`Fashion-MNIST is already available in ${present.dir} (${present.source}); nothing to do.`);
    return { action: 'already-present', dir: present.dir };
  }

  if (opts.useApt ?? canUseApt()) {
    const run = opts.runCommand ?? runInherited;
    log('Fashion-MNIST: installing the Debian package dataset-fashion-mnist with apt-get');
    let status = run('apt-get', ['install', '-y', 'dataset-fashion-mnist']);
    if (status !== 0) {
      // Usually a stale or empty package index (fresh containers ship without one).
      log(`apt-get install exited with ${status}; running apt-get update and retrying`);
      run('apt-get', ['update']);
      status = run('apt-get', ['install', '-y', 'dataset-fashion-mnist']);
    }
    const installed = findFashionMnist(opts);
    if (status === 0 && installed) {
      log(`Fashion-MNIST: installed by apt-get into ${installed.dir}`);
      return { action: 'apt', dir: installed.dir };
    }
    log(`apt-get did not provide Fashion-MNIST (exit ${status}); falling back to downloading`);
  }

  const dir = await downloadFashionMnist({ ...opts, split: 'both', log });
  log(`Fashion-MNIST: downloaded and verified into ${dir}`);
  return { action: 'download', dir };
}

/**
 * What the main commands call before they load Fashion-MNIST, so that a fresh clone needs no separate data
 * step: nothing (and no output) when the files are found; otherwise `npm run data`'s provisioning, saying
 * what it does. When that cannot work either (not root and no network), the error is the loader's usual
 * "not found" message, which lists the places searched and the ways to provide the files, plus why
 * provisioning failed.
 */
export async function ensureFashionMnist(log: (s: string) => void, opts: ProvisionOptions = {}): Promise<ProvisionResult> {
  const present = findFashionMnist(opts);
  if (present) return { action: 'already-present', dir: present.dir };
  log('Fashion-MNIST is not installed; provisioning it as `npm run data` does (Debian package when root, else a verified download)');
  try {
    const r = await provisionFashionMnist(log, opts);
    log(`Fashion-MNIST ready in ${r.dir} (${r.action === 'apt' ? 'installed by apt-get' : 'downloaded and verified'})`);
    return r;
  } catch (err) {
    throw new Error(`${notFoundMessage(opts)}
Automatic provisioning failed: ${(err as Error).message.split('\n')[0]}`, { cause: err });
  }
}

function canUseApt(): boolean {
  return fs.existsSync('/usr/bin/apt-get') && process.getuid?.() === 0;
}

function runInherited(cmd: string, args: string[]): number {
  const r = spawnSync(cmd, args, {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  return r.status ?? 1;
}
