# nbconvert configuration for headless notebook runs (used by scripts/notebooks/run.js via --config).
#
# tslab reports a failing cell only as an execute_reply with status "error" and its message on the
# cell's stderr stream, so nbconvert's own CellExecutionError says little more than "<Error>". This hook
# prints the failing cell and everything it wrote before nbconvert aborts (non-zero exit).
import sys

c = get_config()  # noqa: F821  (provided by traitlets when the file is loaded)


def _report_cell_error(cell, cell_index, execute_reply=None, **_kwargs):
    out = sys.stderr
    bar = "=" * 78
    print(bar, file=out)
    print(f"[notebooks] cell {cell_index} failed. Source:", file=out)
    print(cell.source, file=out)
    print("-" * 78, file=out)
    for o in cell.get("outputs", []):
        if o.get("output_type") == "stream":
            print(f"[{o.get('name')}] {o.get('text', '')}", end="", file=out)
        elif o.get("output_type") == "error":
            print("\n".join(o.get("traceback", [])) or f"{o.get('ename')}: {o.get('evalue')}", file=out)
    print(bar, file=out)
    out.flush()


c.ExecutePreprocessor.on_cell_error = _report_cell_error
