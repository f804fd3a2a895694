import * as os from 'os';

/** Where this process runs: recorded in artifact.json and in cell records, so a result can be traced to a node and job. */
export interface RanOn {
  host: string;
  pid: number;
  /** Set when the process runs inside a Slurm job. */
  slurmJobId?: string;
  slurmNode?: string;
}

export function ranOn(env: NodeJS.ProcessEnv = process.env): RanOn {
  const r: RanOn = { host: os.hostname(), pid: process.pid };
  if (env.SLURM_JOB_ID) r.slurmJobId = env.SLURM_JOB_ID;
  if (env.SLURMD_NODENAME) r.slurmNode = env.SLURMD_NODENAME;
  return r;
}
