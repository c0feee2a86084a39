"""Page sizes of the demo run: what an investigator downloads (issue 12 targets).

    .venv/bin/python benchmarks/bench_sizes.py          # or: make bench (benchmarks/run_all.py)

Runs ``params/demo.yaml`` into a temporary folder and measures every page of the run
folder, static fallbacks included: the overview (target <= 0.5 MB), the largest report
(<= 1.2 MB), ``pack.html`` (<= 3 MB), and the vega bundle plain and gzip-packed (the
difference is what the packing saves on every page with charts). MB = 1,000,000 bytes.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MB = 1_000_000


def main() -> list[dict]:
    sys.path.insert(0, str(ROOT))
    from trialkit.report.bundle import bundle_html
    from trialkit.report.html import vega_bundle

    with tempfile.TemporaryDirectory(prefix="trialkit-bench-sizes-") as tmp:
        subprocess.run([str(Path(sys.executable).parent / "trialkit"), "run", str(ROOT / "params" / "demo.yaml"),
                        "--out", tmp], check=True, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        (run,) = [p for p in Path(tmp).iterdir() if p.is_dir() and not p.name.startswith(".")]
        sizes = {p.name: p.stat().st_size for p in sorted(run.glob("*.html"))}
    plain = len(f'<script id="trialkit-vega-bundle">{vega_bundle()}</script>'.encode())
    packed = len(bundle_html(vega_bundle()).encode())
    reports = {n: s for n, s in sizes.items() if n not in ("index.html", "pack.html")}
    largest = max(reports, key=reports.get)
    rows = [{"figure": f"{name} (demo run)", "value": size / MB, "unit": "MB", "reference": None, "ratio": None}
            for name, size in sizes.items()]
    rows += [
        {"figure": "overview, study_overview.html (target <= 0.5 MB)", "value": sizes["study_overview.html"] / MB,
         "unit": "MB", "reference": 0.5, "ratio": sizes["study_overview.html"] / MB / 0.5},
        {"figure": "overview with the plain bundle, as before issue 12", "unit": "MB", "reference": None,
         "value": (sizes["study_overview.html"] - packed + plain) / MB, "ratio": None},
        {"figure": f"largest report, {largest} (target <= 1.2 MB)", "value": reports[largest] / MB, "unit": "MB",
         "reference": 1.2, "ratio": reports[largest] / MB / 1.2},
        {"figure": f"pack.html, {len(reports)} report(s) (target <= 3 MB)", "value": sizes["pack.html"] / MB,
         "unit": "MB", "reference": 3.0, "ratio": sizes["pack.html"] / MB / 3.0},
        {"figure": "vega bundle in a page: plain script", "value": plain / MB, "unit": "MB", "reference": None,
         "ratio": None},
        {"figure": "vega bundle in a page: gzip + base-85 + loader", "value": packed / MB, "unit": "MB",
         "reference": None, "ratio": None},
    ]
    return rows


if __name__ == "__main__":
    for row in main():
        print(f"{row['figure']}: {row['value']:.3f} {row['unit']}")
