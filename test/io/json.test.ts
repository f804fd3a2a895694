import { mkdtempSync, promises as fs, readdirSync, rmSync } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { z } from 'zod';
import { loadJson, readJson, saveJson, writeJsonAtomic } from '../../src/io/json';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'json-io-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('JSON helpers', () => {
  it('round-trips with sorted keys and no temp files left', async () => {
    const file = path.join(dir, 'm.json');
    await writeJsonAtomic(file, { b: 1, a: [0.5, { d: true, c: null }] });
    expect(await fs.readFile(file, 'utf8')).toBe('{\n  "a": [\n    0.5,\n    {\n      "c": null,\n      "d": true\n    }\n  ],\n  "b": 1\n}\n');
    expect(await readJson(file)).toEqual({ a: [0.5, { c: null, d: true }], b: 1 });
    expect(readdirSync(dir)).toEqual(['m.json']);
  });

  it('refuses to write values JSON would silently change, keeping the old file', async () => {
    const file = path.join(dir, 'm.json');
    await writeJsonAtomic(file, { acc: 0.9 });
    await expect(writeJsonAtomic(file, { acc: NaN })).rejects.toThrow(/cannot write .*m\.json: stableStringify: \$\.acc is NaN/);
    expect(await readJson(file)).toEqual({ acc: 0.9 });
    expect(readdirSync(dir)).toEqual(['m.json']);
  });

  it('names the file when it is missing or malformed', async () => {
    await expect(readJson(path.join(dir, 'nope.json'))).rejects.toThrow(/nope\.json: file not found/);
    await fs.writeFile(path.join(dir, 'bad.json'), '{"a": 1,');
    await expect(readJson(path.join(dir, 'bad.json'))).rejects.toThrow(/bad\.json: not valid JSON/);
  });

  it('loadJson validates against a schema and names the bad field', async () => {
    const Metrics = z.object({ cleanAcc: z.number(), asr: z.number() });
    await saveJson(dir, 'metrics.json', { cleanAcc: 0.91, asr: 0.02 });
    expect(await loadJson(dir, 'metrics.json', Metrics)).toEqual({ cleanAcc: 0.91, asr: 0.02 });
    await saveJson(dir, 'metrics.json', { cleanAcc: 0.91, asr: 'high' });
    await expect(loadJson(dir, 'metrics.json', Metrics)).rejects.toThrow(/metrics\.json: unexpected content: asr: Expected number, received string/);
  });
});
