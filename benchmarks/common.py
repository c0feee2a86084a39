"""What the benchmarks share: the 100,000-subject demo, generated once.

``demo_100k()`` is ``$TRIALKIT_BENCH_DEMO100K`` when that names a folder, else a folder in
trialkit's cache (:func:`trialkit.cache.cache_dir`) named after the demo generator's code
hash, generated the first time (about 30 s) and reused by every benchmark and every later
``make bench`` until the generator changes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUBJECTS = 100_000
CUTOFF = "2026-10-31"


def demo_100k() -> Path:
    """The folder of the 100,000-subject demo (parquet, cutoff 2026-10-31)."""
    given = os.environ.get("TRIALKIT_BENCH_DEMO100K")
    if given:
        return Path(given)
    from trialkit.cache import cache_dir
    from trialkit.demo import _fingerprint

    folder = cache_dir() / f"bench-demo-{SUBJECTS}-{_fingerprint()}"
    if (folder / "demo_truth.json").is_file():
        return folder
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    print(f"bench: generating the {SUBJECTS:,}-subject demo once into {folder} ...", file=sys.stderr, flush=True)
    subprocess.run([sys.executable, "-m", "trialkit", "demo", "--out", str(partial), "--subjects", str(SUBJECTS),
                    "--cutoff", CUTOFF], check=True, cwd=str(ROOT), stdout=subprocess.DEVNULL)
    os.replace(partial, folder)
    return folder
