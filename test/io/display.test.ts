import { busySafe, liveLine, TextDisplay } from '../../src/io/display';

/** A display whose socket refuses the first `busy` sends, as tslab's does while a send is in flight. */
function flakyDisplay(busy: number): TextDisplay & { shown: string[] } {
  const shown: string[] = [];
  let refusals = busy;
  return {
    shown,
    text(s: string) {
      if (refusals-- > 0) throw Object.assign(new Error('Socket is busy writing'), { code: 'EBUSY' });
      shown.push(s);
    },
  };
}

describe('busySafe', () => {
  test('a refused update is retried, and only the newest text is sent', async () => {
    const d = flakyDisplay(1);
    const safe = busySafe(d, 5);
    safe.text('a');
    safe.text('b');
    safe.text('c');
    expect(d.shown).toEqual([]);
    await new Promise((r) => setTimeout(r, 30));
    expect(d.shown).toEqual(['c']);
    safe.text('d');
    expect(d.shown).toEqual(['c', 'd']);
  });

  test('other errors are not swallowed', () => {
    const safe = busySafe({ text() { throw new Error('closed'); } });
    expect(() => safe.text('x')).toThrow('closed');
  });

  test('liveLine over a busy display keeps every line and ends on the last one', async () => {
    const d = flakyDisplay(3);
    const live = liveLine(busySafe(d, 2));
    for (let i = 0; i < 50; i++) live.write(`line ${i}\n`);
    expect(live.lines).toHaveLength(50);
    await new Promise((r) => setTimeout(r, 30));
    expect(d.shown[d.shown.length - 1]).toBe('line 49');
  });
});
