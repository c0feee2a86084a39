"""The same chart output in a live JupyterLab: at least the static SVG, no error, no CDN.

An analyst runs a report notebook interactively (``output_dir=""``): the trialkit renderer's
output must still show every chart, with the internet unreachable.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def jupyterlab(tmp_path):
    port, token = _free_port(), secrets.token_hex(16)
    home = tmp_path / "home"
    env = {**os.environ, "HOME": str(home), "JUPYTER_CONFIG_DIR": str(home / "config"),
           "JUPYTER_DATA_DIR": str(home / "data"), "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
           "IPYTHONDIR": str(home / "ipython"), "JUPYTER_PLATFORM_DIRS": "1"}
    work = tmp_path / "work"
    work.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", "--LabApp.expose_app_in_browser=True",
         f"--ServerApp.root_dir={work}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        else:
            pytest.fail("JupyterLab did not start within 30 s")
        yield base, token, work
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_chart_shows_in_live_jupyterlab_offline(browser, jupyterlab):
    base, token, work = jupyterlab
    nb = new_notebook(cells=[new_code_cell(
        "import polars as pl\n"
        "from trialkit.charts import plot_subjects_by_arm_site\n"
        "from trialkit.report.notebook import setup, show_chart\n"
        "setup(audience='analyst', output_dir='')\n"
        "counts = pl.DataFrame({'SITEID': ['01', '02'], 'ARMCD': ['A', 'B'], 'N': [3, 2]})\n"
        "show_chart(plot_subjects_by_arm_site(counts), 'arms')\n"
        "plot_subjects_by_arm_site(counts)")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, work / "live.ipynb")

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    external: list[str] = []

    def only_local(route):
        if route.request.url.startswith(base):
            route.continue_()
        else:
            external.append(route.request.url)
            route.abort()

    context.route("http*://**", only_local)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{base}/lab/tree/live.ipynb?token={token}")
    page.wait_for_function("window.jupyterapp && window.jupyterapp.commands.hasCommand('notebook:run-all-cells')",
                           timeout=60000)
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=60000)
    # the kernel is ready when its status indicator says idle
    page.wait_for_function("(() => { const w = window.jupyterapp.shell.currentWidget;"
                           " return w && w.sessionContext && w.sessionContext.session &&"
                           " w.sessionContext.session.kernel && w.sessionContext.session.kernel.status === 'idle'; })()",
                           timeout=60000)
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    charts = page.locator(".jp-OutputArea .trialkit-chart svg")
    charts.first.wait_for(state="visible", timeout=60000)
    page.wait_for_function("document.querySelectorAll('.jp-OutputArea .trialkit-chart').length >= 2", timeout=30000)
    # setup() loaded the bundle into the page: the charts turn interactive
    page.wait_for_function("document.querySelectorAll('.jp-OutputArea .vega-embed svg.marks').length >= 2",
                           timeout=30000)
    shot = Path(os.environ.get("TRIALKIT_SCREENSHOTS", work)) / "jupyterlab-live.png"
    page.screenshot(path=str(shot))
    boxes = [charts.nth(i).bounding_box() for i in range(charts.count())]
    context.close()
    assert len(boxes) >= 2 and all(b and b["width"] > 50 and b["height"] > 50 for b in boxes), boxes
    assert not external, f"JupyterLab output fetched external URLs: {external}"
    assert not errors, errors
