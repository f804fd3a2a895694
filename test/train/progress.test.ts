/** Progress in a notebook is one output that updates in place; elsewhere the modes keep their line/bar output. */
import { liveLine } from '../../src/io/display';
import { createProgress } from '../../src/train/progress';

function fakeDisplay() {
  const texts: string[] = [];
  let created = 0;
  return { texts, created: () => created, factory: () => { created++; return { text: (s: string) => { texts.push(s); } }; } };
}

test('in a notebook, hundreds of steps make one display with a handful of updates, ending in a summary', () => {
  const d = fakeDisplay();
  const written: string[] = [];
  const p = createProgress('train', 'lines', (s) => written.push(s), d.factory);
  for (let epoch = 1; epoch <= 2; epoch++) {
    for (let b = 1; b <= 300; b++) p.step(b, 300, `epoch ${epoch}/2`);
    p.epoch(`epoch ${epoch}/2 loss 0.${epoch}`);
  }
  p.done();
  expect(d.created()).toBe(1);
  expect(written).toEqual([]);
  // 600 steps within well under 250 ms: the first draw, the two epoch-final steps, two epoch lines and done.
  expect(d.texts.length).toBeLessThanOrEqual(8);
  expect(d.texts[0]).toMatch(/^train \[#*\.*\] 0% epoch 1\/2/);
  expect(d.texts[d.texts.length - 1]).toMatch(/^train done in \d+s: epoch 2\/2 loss 0\.2$/);
  expect(d.texts.every((t) => !t.includes('\n'))).toBe(true);
});

test('outside a notebook (no display) lines mode prints one line per epoch; bar and silent never ask for a display', () => {
  const written: string[] = [];
  const p = createProgress('train', 'lines', (s) => written.push(s), () => undefined);
  for (let b = 1; b <= 50; b++) p.step(b, 50, 'x');
  p.epoch('epoch 1/1 loss 0.5');
  p.done();
  expect(written).toEqual(['train epoch 1/1 loss 0.5\n']);
  const d = fakeDisplay();
  createProgress('a', 'silent', () => undefined, d.factory).epoch('e');
  createProgress('b', 'bar', () => undefined, d.factory).epoch('e');
  expect(d.created()).toBe(0);
});

test('liveLine shows only the latest complete line and keeps all of them', () => {
  const d = fakeDisplay();
  const l = liveLine(d.factory());
  l.write('done 1/3 cells\n');
  l.write('done 2/3');
  l.write(' cells\ndone 3/3 cells\n');
  expect(l.lines).toEqual(['done 1/3 cells', 'done 2/3 cells', 'done 3/3 cells']);
  expect(d.texts).toEqual(['done 1/3 cells', 'done 3/3 cells']);
});
