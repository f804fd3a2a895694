/** A computing notebook's one set-up call prints what its separate calls printed: the QUICK line, then the engine. */
import { describeEngine } from '../../src/engine/backend';
import { isQuick, projectRoot, startNotebook } from '../../src/notebook/env';

test('startNotebook prints the set-up line and the engine line and returns both contexts', async () => {
  const logs: string[] = [];
  const spy = jest.spyOn(console, 'log').mockImplementation((s: string) => { logs.push(s); });
  try {
    const nb = await startNotebook();
    expect(nb.quick).toBe(isQuick());
    expect(nb.root).toBe(projectRoot());
    expect(logs).toEqual([expect.stringMatching(/^superficial-safety notebook · QUICK mode /), describeEngine(nb.engine)]);
  } finally {
    spy.mockRestore();
  }
});
