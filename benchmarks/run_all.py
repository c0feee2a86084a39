"""Run every benchmark of the project and print one table.

    make bench                       # or: .venv/bin/python benchmarks/run_all.py [NAME ...]

Each ``benchmarks/bench_*.py`` defines ``main() -> list[dict]``; a row is
``{"figure": str, "value": float, "unit": str, "reference": float, "ratio": float}`` where
``reference`` is the target the figure is held against (ratio <= 1 meets it). Benchmarks are
run on demand, never as timed tests.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def format_table(rows: list[dict]) -> str:
    header = ("benchmark", "figure", "value", "unit", "reference", "ratio", "meets")
    lines = [header]
    for r in rows:
        ratio = r.get("ratio")
        meets = "" if ratio is None else ("yes" if ratio <= 1 else "NO")
        lines.append((r["benchmark"], r["figure"], f"{r['value']:.3g}", r.get("unit", ""),
                      "" if r.get("reference") is None else f"{r['reference']:.3g}",
                      "" if ratio is None else f"{ratio:.2f}", meets))
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    out = ["  ".join(str(c).ljust(w) for c, w in zip(line, widths)) for line in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


def main(argv: list[str]) -> int:
    wanted = set(argv)
    rows: list[dict] = []
    failed = []
    for path in sorted(HERE.glob("bench_*.py")):
        name = path.stem.removeprefix("bench_")
        if wanted and name not in wanted:
            continue
        print(f"bench: {name} ...", flush=True)
        start = time.perf_counter()
        try:
            results = load(path).main()
        except Exception as exc:  # a broken benchmark is reported, the others still run
            failed.append(name)
            print(f"bench: {name} FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
            continue
        print(f"bench: {name} done in {time.perf_counter() - start:.1f} s", flush=True)
        rows += [{"benchmark": name, **r} for r in results]
    print()
    print(format_table(rows))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
