import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { writeFileAtomicSync } from '../../src/io/durable';

let root: string;
beforeEach(() => { root = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-durable-')); });
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

test('writeFileAtomicSync creates the directory and leaves only the final file', () => {
  const file = path.join(root, 'sub', 'f.bin');
  writeFileAtomicSync(file, Buffer.from([1, 2, 3]));
  expect(fs.readdirSync(path.join(root, 'sub'))).toEqual(['f.bin']);
  expect(Array.from(fs.readFileSync(file))).toEqual([1, 2, 3]);
});
