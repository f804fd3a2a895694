import { groupedBars } from '../../src/viz/figures';
import { BUNDLE_ATTR, FIGURE_CLASS, figureHtml, newFigureId, plotlyScriptTag, plotlyVersion, scriptSafeJson } from '../../src/viz/html';
import { loadPlotly, plotlyLoaded, resetPlotlyLoaded, setDisplay, show } from '../../src/viz/show';
import { toPaperLayout } from '../../src/viz/tables';

const fig = groupedBars({
  title: 'Evil </script><script>alert(1)</script> title',
  categories: ['a'],
  series: [{ name: 's', values: [1] }],
  xTitle: 'x',
  yTitle: 'y',
});

describe('html', () => {
  test('bundle tag: local plotly.js, guarded against double loading, </script escaped', () => {
    const tag = plotlyScriptTag('var s = "</script>"; // <!-- x');
    expect(tag).toContain(`${BUNDLE_ATTR}="${plotlyVersion()}"`);
    expect(tag).toContain("if (typeof window.Plotly === 'undefined')");
    expect(tag).toContain('var s = "<\\/script>"');
    expect(tag).toContain('<\\!--');
    expect(tag.match(/<\/script>/g)).toHaveLength(1);
    expect(plotlyVersion()).toMatch(/^3\./);
  });

  test('the real bundle is read from node_modules and inlined once per tag', () => {
    const tag = plotlyScriptTag();
    expect(tag.length).toBeGreaterThan(1_000_000);
    expect(tag).toContain('window.Plotly = Plotly');
    // (The bundle mentions CDN URLs for optional features, e.g. MathJax and map topojson, which our
    // figures never use; the browser check proves that nothing is fetched.)
  });

  test('figure snippet: unique ids, class for the browser check, data embedded safely', () => {
    const a = figureHtml(fig);
    const b = figureHtml(fig);
    const idA = /id="([^"]+)"/.exec(a)![1];
    const idB = /id="([^"]+)"/.exec(b)![1];
    expect(idA).not.toBe(idB);
    expect(a).toContain(`class="${FIGURE_CLASS}"`);
    // Only the snippet's own closing tag: the title cannot end the script early.
    expect(a.match(/<\/script>/g)).toHaveLength(1);
    const json = /var fig = (.*);\n/.exec(a)![1];
    const parsed = JSON.parse(json) as { data: unknown; layout: { title: { text: string } }; config: Record<string, unknown> };
    expect(parsed.layout.title.text).toBe(fig.layout.title.text);
    expect(parsed.config).toMatchObject({ responsive: true, displaylogo: false });
    expect(a).toContain('window.Plotly.newPlot(el, fig.data, fig.layout, fig.config)');
    expect(a).not.toContain('cdn.plot.ly');
  });

  test('scriptSafeJson turns typed arrays into arrays and escapes <', () => {
    expect(scriptSafeJson({ a: new Float32Array([0.5, 1]), s: '<b>' })).toBe('{"a":[0.5,1],"s":"\\u003cb>"}');
    expect(newFigureId()).toMatch(/^ss-fig-[0-9a-f]{12}-\d+$/);
  });
});

describe('show', () => {
  let outputs: string[];
  beforeEach(() => {
    outputs = [];
    resetPlotlyLoaded();
    setDisplay({ html: (s) => outputs.push(s) });
  });
  afterAll(() => setDisplay(undefined));

  test('the first figure emits the bundle once, later figures reuse window.Plotly', () => {
    show(fig);
    expect(outputs).toHaveLength(2);
    expect(outputs[0]).toContain(BUNDLE_ATTR);
    expect(outputs[1]).toContain(FIGURE_CLASS);
    expect(plotlyLoaded()).toBe(true);
    show(fig);
    expect(outputs).toHaveLength(3);
    expect(outputs[2]).not.toContain(BUNDLE_ATTR);
  });

  test('loadPlotly() always re-emits (setup cell re-run), loadPlotly({force:false}) only once', () => {
    loadPlotly({ force: false });
    loadPlotly({ force: false });
    expect(outputs).toHaveLength(1);
    loadPlotly();
    expect(outputs).toHaveLength(2);
    expect(outputs.every((o) => o.includes(BUNDLE_ATTR))).toBe(true);
  });

  test('tables render as script-free HTML and need no bundle', () => {
    show(toPaperLayout([{ method: 'A', attack: 'X', metric: 'ASR', value: 12.34 }]), { caption: 'cap' });
    expect(outputs).toHaveLength(1);
    expect(outputs[0]).toContain('<table');
    expect(outputs[0]).toContain('>12.3</td>');
    expect(outputs[0]).not.toContain('<script');
    expect(plotlyLoaded()).toBe(false);
  });

  test('outside a notebook: a text rendering on stdout, nothing emitted', () => {
    setDisplay(undefined);
    const log = jest.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      show(fig);
      show(toPaperLayout([{ method: 'A', attack: 'X', metric: 'ASR', value: 12.34 }]));
      expect(log.mock.calls[0][0]).toMatch(/^\[figure\] Evil .* 1 trace\(s\): bar$/);
      expect(log.mock.calls[1][0]).toContain('| A | 12.3 |');
    } finally {
      log.mockRestore();
    }
    expect(outputs).toHaveLength(0);
  });

  test('rejects anything else', () => {
    expect(() => show({ foo: 1 } as never)).toThrow(/figure spec/);
  });
});
