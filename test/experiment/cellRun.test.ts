import { execFile } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { promisify } from 'util';
import { ArtifactStore } from '../../src/experiment/cache';
import { CELL_STAGE, cellRecordConfig, cellRecordDir, cellRecordKey, CellRecord, readCellRecord, writeCellRecord } from '../../src/experiment/cellRun';
import { runCellCommand } from '../../src/cli/cluster';
import { planStudy, StudyConfig } from '../../src/experiment/study';

const study = (over: Partial<StudyConfig> = {}): StudyConfig => ({
  dataset: 'synthetic', attacks: ['badnets'], defenses: ['FT', 'FST'], seeds: [0], quick: true, runsDir: 'runs',
  pamRhos: [], retune: true, lmc: true, qra: true, ...over,
});

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-cellrun-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const record = (cell: string, over: Partial<CellRecord> = {}): CellRecord => ({
  version: 1, cell, executor: 'slurm', startedAt: '2026-01-01T00:00:00.000Z', seconds: 1.5, computed: true,
  ranOn: { host: 'node7', pid: 1, slurmJobId: '42', slurmNode: 'node7' },
  summary: { kind: 'model', cleanAccuracy: 0.9, asr: NaN, seconds: 1, cached: false, key: 'abc' },
  ...over,
});

describe('cell records', () => {
  test('the key ignores paths and the fields that only choose which cells exist, but not what a cell computes', () => {
    const cell = planStudy(study()).find((c) => c.id === 'purify/badnets/s0/FST')!;
    const k = cellRecordKey(study(), cell);
    expect(cellRecordKey(study({ runsDir: '/elsewhere', dataDir: '/mnt/data', attacks: ['badnets', 'blended'], seeds: [0, 1], lmc: false, bec: false }), cell)).toBe(k);
    expect(cellRecordKey(study({ quick: false }), cell)).not.toBe(k);
    expect(cellRecordKey(study({ dataset: 'mnist' }), cell)).not.toBe(k);
    // Only the transfer matrix reads the defense list.
    expect(cellRecordKey(study({ defenses: ['FT', 'FST', 'BTI'] }), cell)).toBe(k);
    const transfer = planStudy(study()).find((c) => c.kind === 'transfer')!;
    expect(cellRecordKey(study({ defenses: ['FT', 'FST', 'BTI'] }), transfer)).not.toBe(cellRecordKey(study(), transfer));
    expect(cellRecordConfig(study(), cell)).toEqual({ cell: cell.id, study: { dataset: 'synthetic', quick: true } });
  });

  test('a record round-trips exactly (NaN included), is sealed as an artifact, and the first one written stays', async () => {
    const s = study({ runsDir: path.join(root, 'rt') });
    const cell = planStudy(s)[0];
    expect(readCellRecord(s, cell)).toBeNull();
    await writeCellRecord(s, cell, record(cell.id));
    const back = readCellRecord(s, cell)!;
    expect(back).toEqual(record(cell.id));
    expect(Number.isNaN((back.summary as { asr: number }).asr)).toBe(true);
    const store = new ArtifactStore(s.runsDir);
    expect(await store.verify(CELL_STAGE, cellRecordKey(s, cell))).toBeNull();
    const meta = JSON.parse(fs.readFileSync(path.join(cellRecordDir(s, cell), 'artifact.json'), 'utf8'));
    expect(meta.ranOn.host).toBe(os.hostname());
    // A later run of the same cell (loading it from the cache elsewhere) keeps where it was computed.
    await writeCellRecord(s, cell, record(cell.id, { computed: false, ranOn: { host: 'other', pid: 2 } }));
    expect(readCellRecord(s, cell)!.ranOn.host).toBe('node7');
  });
});

describe('two processes racing on one cell', () => {
  test('both finish with the same result, and the cache holds one complete artifact per stage and nothing half-written', async () => {
    const runsDir = path.join(root, 'race');
    const s = study({ runsDir });
    const file = path.join(root, 'race-study.json');
    fs.writeFileSync(file, JSON.stringify(s));
    const ready = fs.mkdtempSync(path.join(root, 'ready-'));
    const script = path.join(__dirname, '..', 'fixtures', 'runCellProcess.js');
    const run = () => promisify(execFile)(process.execPath, [script, file, 'model/badnets/s0/backdoored', ready, '2'], { maxBuffer: 1 << 24 });
    const [a, b] = await Promise.all([run(), run()]);
    const sa = JSON.parse(a.stdout.trim().split('\n').pop()!);
    const sb = JSON.parse(b.stdout.trim().split('\n').pop()!);
    // Both computed (neither found the other's result), so they really raced through compute and rename.
    expect([sa.cached, sb.cached]).toEqual([false, false]);
    expect(sb.key).toBe(sa.key);
    expect(sb.cleanAccuracy).toBe(sa.cleanAccuracy);
    expect(sb.asr).toBe(sa.asr);
    const store = new ArtifactStore(runsDir);
    for (const stage of ['data', 'poison', 'model', 'evaluation', CELL_STAGE]) {
      const entries = fs.readdirSync(path.join(runsDir, stage));
      expect(entries.filter((e) => e.startsWith('.tmp-'))).toEqual([]);
      expect(entries.length).toBe(1);
      expect(await store.verify(stage, entries[0])).toBeNull();
    }
    const cell = planStudy(s).find((c) => c.id === 'model/badnets/s0/backdoored')!;
    // The record is the one whose rename won: either process's summary, never a mix.
    expect([sa, sb]).toContainEqual(readCellRecord(s, cell)!.summary);
  }, 240000);
});

describe('the cell command', () => {
  const quietly = async (f: () => Promise<unknown>) => {
    const spy = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    try { return await f(); } finally { spy.mockRestore(); }
  };

  test('a study file the node cannot see fails with a message that says it must be on shared storage', async () => {
    await expect(runCellCommand('model/none/s0/clean', { study: path.join(root, 'nowhere', 'study.json') }))
      .rejects.toThrow(/cannot read the study file .*nowhere.*ENOENT.*every node/);
  });

  test('a runs directory the node cannot see fails instead of starting an empty cache', async () => {
    const file = path.join(root, 'cmd-study.json');
    fs.writeFileSync(file, JSON.stringify(study({ runsDir: path.join(root, 'not-mounted') })));
    await expect(runCellCommand('model/none/s0/clean', { study: file })).rejects.toThrow(/runs directory .*not-mounted does not exist on .*every node/);
    expect(fs.existsSync(path.join(root, 'not-mounted'))).toBe(false);
  });

  test('with --require-deps, a dependency without a visible record is named; unknown cells and bad study files are rejected', async () => {
    const runsDir = path.join(root, 'cmd-runs');
    fs.mkdirSync(runsDir);
    const file = path.join(root, 'cmd-study2.json');
    fs.writeFileSync(file, JSON.stringify(study({ runsDir })));
    await expect(runCellCommand('purify/badnets/s0/FT', { study: file, requireDeps: true }))
      .rejects.toThrow(/needs model\/badnets\/s0\/backdoored, whose cell record is not under .*cmd-runs/);
    await expect(runCellCommand('purify/badnets/s0/NOPE', { study: file })).rejects.toThrow(/not a cell of this study .*e\.g\. purify\/badnets\/s0\/FT/);
    await expect(runCellCommand(undefined, { study: file })).rejects.toThrow(/give the cell id/);
    fs.writeFileSync(file, JSON.stringify({ ...study({ runsDir }), seeds: 'zero' }));
    await expect(quietly(() => runCellCommand('model/none/s0/clean', { study: file }))).rejects.toThrow(/is not a study: seeds: Expected array/);
  });
});
