import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CellRecord, readCellRecord, writeCellRecord } from '../../src/experiment/cellRun';
import { Exec, jobResources, sbatchArgs, studyDir, submitStudy, waitForJobs } from '../../src/experiment/slurm';
import { reportFromRecords } from '../../src/report/reproduce';
import { Cell, planStudy, StudyConfig, subjectLabel } from '../../src/experiment/study';

const study = (over: Partial<StudyConfig> = {}): StudyConfig => ({
  dataset: 'synthetic', attacks: ['badnets'], defenses: ['FT', 'FST'], seeds: [0], quick: true, runsDir: 'runs',
  pamRhos: [], retune: true, lmc: false, qra: false, bec: false, ...over,
});

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-slurm-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
const cli = path.join(root, 'cli.js');
fs.writeFileSync(cli, '');

const record = (cell: Cell, job: string): CellRecord => ({
  version: 1, cell: cell.id, executor: 'slurm', startedAt: '2026-01-01T00:00:00.000Z', seconds: 2, computed: true,
  ranOn: { host: 'n1', pid: 1, slurmJobId: job, slurmNode: 'n1' },
  summary: summaryOf(cell, job),
});

/** A plausible summary of each kind, enough for the report to build its table. */
function summaryOf(cell: Cell, job: string): CellRecord['summary'] {
  const rates = { cleanAccuracy: 0.9, asr: 0.8 };
  const base = { seconds: 1, cached: false, key: `k${job}` };
  if (cell.kind === 'purify') return { kind: 'purify', defense: cell.subject ? subjectLabel(cell.subject) : 'all', before: rates, after: { cleanAccuracy: 0.88, asr: 0.05 }, dataUsed: 'clean split', config: {}, ...base };
  if (cell.kind === 'retune') return { kind: 'retune', history: [{ epoch: 0, ...rates }, { epoch: 1, cleanAccuracy: 0.89, asr: 0.7 }], ...base };
  return { kind: 'model', ...rates, ...base };
}

/** A stand-in for the Slurm client commands: numbered sbatch ids, and squeue answers from `states`. */
function fakeSlurm(first = 100) {
  const calls: { cmd: string; args: string[] }[] = [];
  const states = new Map<string, string>();
  let next = first;
  const exec: Exec = async (cmd, args) => {
    calls.push({ cmd, args });
    if (cmd === 'sbatch') {
      const id = String(next++);
      states.set(id, 'PENDING|(null)|Dependency');
      return { code: 0, stdout: `${id}\n`, stderr: '' };
    }
    if (cmd === 'squeue') {
      const ids = args.find((a) => a.startsWith('--jobs='))!.slice(7).split(',');
      const lines = ids.filter((id) => states.has(id)).map((id) => `${id}|${states.get(id)}`);
      return lines.length ? { code: 0, stdout: `${lines.join('\n')}\n`, stderr: '' } : { code: 1, stdout: '', stderr: 'slurm_load_jobs error: Invalid job id specified' };
    }
    if (cmd === 'sacct') return { code: 1, stdout: '', stderr: 'Slurm accounting storage is disabled' };
    throw new Error(`unexpected ${cmd}`);
  };
  return { exec, calls, states };
}

const depOf = (args: string[]) => args.find((a) => a.startsWith('--dependency='))?.slice('--dependency=afterok:'.length).split(':') ?? [];
const cellOf = (args: string[]) => /cell' '([^']+)'/.exec(args[args.length - 1])![1];

describe('job resources and the sbatch line', () => {
  const cells = planStudy(study({ attacks: ['badnets', 'lc'], qra: true }));
  const byId = new Map(cells.map((c) => [c.id, c]));

  test('time follows the cost estimate, memory the cell kind with a floor, one CPU per cell', () => {
    const full = study({ quick: false });
    const model = byId.get('model/badnets/s0/backdoored')!;
    const lc = byId.get('model/lc/s0/backdoored')!;
    const ft = { ...byId.get('purify/badnets/s0/FT')!, cost: 40 };
    expect(jobResources(full, { ...model, cost: 260 })).toEqual({ minutes: Math.ceil((260 * 3 + 300) / 60), cpus: 1, memMb: 2048 });
    expect(jobResources(full, { ...lc, cost: 480 }).memMb).toBe(3072);
    expect(jobResources(full, ft, { timeFactor: 10 }).minutes).toBe(Math.ceil((400 + 300) / 60));
    expect(jobResources(study(), model).memMb).toBe(1024);
    expect(jobResources(study(), { ...model, cost: 20 }).minutes).toBe(10);
    expect(jobResources(study(), model, { memMb: 4000 }).memMb).toBe(4000);
    expect(() => jobResources(full, model, { timeFactor: 0 })).toThrow(/--time-factor must be a positive number/);
    expect(() => jobResources(full, model, { memMb: 10 })).toThrow(/--mem-mb must be an integer of at least 256/);
  });

  test('every flag the issue asks for, the options, and a quoted command that runs exactly one cell', () => {
    const cell = byId.get('retune/badnets/s0/clean')!;
    const args = sbatchArgs(cell, { minutes: 7, cpus: 1, memMb: 1500 }, ['11', '12'],
      { studyFile: "/shared/it's/study.json", runsDir: '/shared/runs', logDir: '/shared/logs', node: '/usr/bin/node', cli: '/repo/dist/cli.js' },
      { partition: 'cpu', account: 'lab', qos: 'long', sbatchArgs: ['--constraint=avx2'], jobPrefix: 'x-', backend: 'wasm' });
    expect(args).toEqual(expect.arrayContaining(['--parsable', '--job-name=x-retune.badnets.s0.clean', '--time=7', '--cpus-per-task=1', '--mem=1500M',
      '--requeue', '--kill-on-invalid-dep=yes', '--dependency=afterok:11:12', '--output=/shared/logs/retune.badnets.s0.clean.%j.out',
      '--partition=cpu', '--account=lab', '--qos=long', '--constraint=avx2']));
    expect(args[args.length - 1]).toBe("--wrap=exec '/usr/bin/node' '/repo/dist/cli.js' 'cell' 'retune/badnets/s0/clean' '--study' '/shared/it'\\''s/study.json' " +
      "'--runs-dir' '/shared/runs' '--require-deps' '--backend' 'wasm'");
    expect(sbatchArgs(cell, { minutes: 7, cpus: 1, memMb: 1500 }, [], { studyFile: 's', runsDir: 'r', logDir: 'l', node: 'n', cli: 'c' })
      .some((a) => a.startsWith('--dependency') || a.startsWith('--partition'))).toBe(false);
  });
});

describe('submitting the graph', () => {
  test('cells in the cache are not submitted; the others depend on the jobs of their uncached dependencies', async () => {
    const s = study({ runsDir: path.join(root, 'submit') });
    const cells = planStudy(s);
    const byId = new Map(cells.map((c) => [c.id, c]));
    // The clean model is done already.
    await writeCellRecord({ ...s, runsDir: path.resolve(s.runsDir) }, byId.get('model/none/s0/clean')!, record(byId.get('model/none/s0/clean')!, '1'));
    const slurm = fakeSlurm();
    const sub = await submitStudy(s, { outDir: root, exec: slurm.exec, cli });
    expect(sub.done).toEqual(['model/none/s0/clean']);
    expect(sub.submitted.length).toBe(cells.length - 1);
    const sb = slurm.calls.filter((c) => c.cmd === 'sbatch');
    const jobOf = new Map(sb.map((c, i) => [cellOf(c.args), String(100 + i)]));
    expect(jobOf.has('model/none/s0/clean')).toBe(false);
    for (const c of sb) {
      const cell = byId.get(cellOf(c.args))!;
      // Exactly the graph's dependencies, minus the finished one, as job ids submitted before this one.
      expect(depOf(c.args).sort()).toEqual(cell.deps.filter((d) => d !== 'model/none/s0/clean').map((d) => jobOf.get(d)!).sort());
    }
    expect(depOf(sb.find((c) => cellOf(c.args) === 'retune/badnets/s0/clean')!.args)).toEqual([jobOf.get('model/badnets/s0/backdoored')]);
    const shared = JSON.parse(fs.readFileSync(sub.studyFile, 'utf8'));
    expect(shared.runsDir).toBe(path.resolve(s.runsDir));

    // Rerun while the queue still holds the first submission: nothing is submitted twice.
    const again = await submitStudy(s, { outDir: root, exec: async (cmd, args) => (cmd === 'sbatch' ? { code: 1, stdout: '', stderr: 'should not submit' } : slurm.exec(cmd, args)), cli });
    expect(again.submitted).toEqual([]);
    expect(again.reused.length).toBe(cells.length - 1);
  });

  test('an sbatch refusal stops the submission with sbatch\'s words, and what was queued is remembered', async () => {
    const s = study({ runsDir: path.join(root, 'refused') });
    let n = 0;
    const exec: Exec = async (cmd) => (cmd === 'sbatch' && ++n > 2
      ? { code: 1, stdout: '', stderr: 'sbatch: error: invalid partition specified: gpu' } : { code: 0, stdout: `${n}\n`, stderr: '' });
    await expect(submitStudy(s, { outDir: root, exec, cli })).rejects.toThrow(/sbatch refused .* invalid partition specified: gpu/);
    const jobs = JSON.parse(fs.readFileSync(path.join(studyDir({ ...s, runsDir: path.resolve(s.runsDir) }), 'jobs.json'), 'utf8'));
    expect(Object.keys(jobs).length).toBe(2);
  });
});

describe('waiting for the jobs', () => {
  test('finished jobs with a record are done; a cancelled job and its never-runnable dependants are reported missing', async () => {
    const s = study({ runsDir: path.join(root, 'wait') });
    const shared = { ...s, runsDir: path.resolve(s.runsDir) };
    const slurm = fakeSlurm(1);
    const sub = await submitStudy(s, { outDir: root, exec: slurm.exec, cli });
    const cells = new Map(sub.cells.map((c) => [c.id, c]));
    const job = (id: string) => sub.jobs.get(id)!;
    const lines: string[] = [];
    let polls = 0;
    // Each poll moves the fake cluster on: models finish, then FT is cancelled and its dependants die.
    const exec: Exec = async (cmd, args) => {
      if (cmd === 'squeue') {
        polls++;
        if (polls === 1) slurm.states.set(job('model/badnets/s0/backdoored'), 'RUNNING|n1|None');
        if (polls === 2) {
          for (const id of ['model/badnets/s0/backdoored', 'model/none/s0/clean']) {
            await writeCellRecord(shared, cells.get(id)!, record(cells.get(id)!, job(id)));
            slurm.states.set(job(id), 'COMPLETED|n1|None');
          }
          slurm.states.set(job('purify/badnets/s0/FT'), 'CANCELLED|n1|None');
          slurm.states.set(job('retune/badnets/s0/FT'), 'CANCELLED||DependencyNeverSatisfied');
        }
        if (polls === 3) {
          for (const c of sub.cells) {
            if (c.id.endsWith('/FT') || readCellRecord(shared, c)) continue;
            await writeCellRecord(shared, c, record(c, job(c.id)));
            slurm.states.set(job(c.id), 'COMPLETED|n1|None');
          }
          // Slurm forgets one finished job: its record says it is done.
          slurm.states.delete(job('retune/badnets/s0/clean'));
        }
      }
      return slurm.exec(cmd, args);
    };
    const w = await waitForJobs(s, sub, { outDir: root, exec, pollSeconds: 0, write: (l) => lines.push(l) });
    expect([...w.failed.keys()].sort()).toEqual(['purify/badnets/s0/FT', 'retune/badnets/s0/FT']);
    expect(w.failed.get('purify/badnets/s0/FT')).toMatch(new RegExp(`job ${job('purify/badnets/s0/FT')} ended CANCELLED without a cell record; log: .*purify\\.badnets\\.s0\\.FT\\.${job('purify/badnets/s0/FT')}\\.out`));
    expect(lines.join('')).toMatch(/start model\/badnets\/s0\/backdoored \(job \d+ on n1\)/);
    expect(lines.join('')).toMatch(/never runnable retune\/badnets\/s0\/FT/);
    expect(lines.join('')).toMatch(/sacct: no accounting storage/);

    const rep = await reportFromRecords(s, { outDir: path.join(root, 'wait-report'), images: false, seconds: 1, reasons: w.failed, log: () => undefined });
    expect([...rep.missing.keys()].sort()).toEqual(['purify/badnets/s0/FT', 'retune/badnets/s0/FT']);
    const where = fs.readFileSync(path.join(root, 'wait-report', 'cells.md'), 'utf8');
    expect(where).toMatch(/\| model\/badnets\/s0\/backdoored \| computed \| n1 \| \d+ \| not recorded \| 2\.0 \|/);
    expect(where).toMatch(/\| purify\/badnets\/s0\/FT \| no record/);
    expect(fs.readFileSync(path.join(root, 'wait-report', 'config.json'), 'utf8')).toMatch(/ended CANCELLED/);
  });

  test('a job that ended COMPLETED but left no visible record gets a grace period, then counts as failed', async () => {
    const s = study({ runsDir: path.join(root, 'grace'), defenses: ['FT'], retune: false });
    const slurm = fakeSlurm(1);
    const sub = await submitStudy(s, { outDir: root, exec: slurm.exec, cli });
    for (const id of sub.jobs.values()) slurm.states.set(id, 'COMPLETED|n1|None');
    const w = await waitForJobs(s, sub, { outDir: root, exec: slurm.exec, pollSeconds: 0, recordGraceSeconds: 0.05, write: () => undefined });
    expect(w.failed.size).toBe(sub.jobs.size);
  });
});
