import * as os from 'os';
import { engineInfo } from '../engine/backend';

/** Where this process runs: recorded in artifact.json and in cell records, so a result can be traced to a node and job. */
export interface RanOn {
  host: string;
  pid: number;
  /** Set when the process runs inside a Slurm job. */
  slurmJobId?: string;
  slurmNode?: string;
  /** The compute engine (native, wasm, …) and its threads; provenance only, never part of a cache key. */
  engine?: string;
  threads?: number;
}

export function ranOn(env: NodeJS.ProcessEnv = process.env): RanOn {
  const r: RanOn = { host: os.hostname(), pid: process.pid };
  if (env.SLURM_JOB_ID) r.slurmJobId = env.SLURM_JOB_ID;
  if (env.SLURMD_NODENAME) r.slurmNode = env.SLURMD_NODENAME;
  const e = engineInfo();
  if (e) {
    r.engine = e.engine === 'native' ? `native (oneDNN ${e.dnnl})` : e.engine;
    r.threads = e.threads;
  }
  return r;
}
