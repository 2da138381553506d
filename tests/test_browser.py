"""A real browser: JupyterLab + Debian's chromium run notebook 02 and move its LWP slider.

The test starts JupyterLab on loopback (random free port, token, a temporary copy of
``notebooks/02_mask_exploration.ipynb`` pointed at the tiny twin, a throw-away
settings dir with news and update checks off, a kernelspec for this interpreter),
drives ``/usr/bin/chromium`` headless through Playwright (never ``playwright
install``), runs all cells from the Run menu, moves the LWP threshold slider with the
keyboard and checks that the occlusion-rate readout shows exactly what
:mod:`unisst_lib.views.explore` computes for the new threshold.

Without chromium (or playwright) the test is skipped, unless ``$CI`` is set: then it
fails, so CI cannot silently lose it (``.ci/run`` installs chromium with apt-get).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "02_mask_exploration.ipynb"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# What the copied notebook is run with; the expected readouts use the same values.
PARAMS = {"sequence_index": 1, "threshold_gm2": 70.0, "time_index": 0, "seed": 0}
# Keyboard presses on the threshold handle (step 0.5 g m-2): 70 -> 75 g m-2.
ARROW_PRESSES = 10
NEW_THRESHOLD = 75.0

pytestmark = pytest.mark.slow


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _require(ok: bool, why: str) -> None:
    """Skip when a browser prerequisite is missing; fail instead under CI."""
    if ok:
        return
    if _in_ci():
        pytest.fail(f"{why} (CI is set: the browser test must run; .ci/run installs chromium)")
    pytest.skip(why)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_json(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=1), encoding="utf-8")


def _copy_notebook(dest: Path, data_dir: Path) -> None:
    """The committed notebook with papermill's injected parameters cell."""
    import nbformat
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    nb = load_notebook_node(str(NOTEBOOK))
    nb = parameterize_notebook(nb, {"data_dir": str(data_dir), **PARAMS})
    nbformat.write(nb, dest)


def _lab_environment(home: Path) -> dict[str, str]:
    """Jupyter dirs in ``home``: our kernelspec, no user config, news and updates off."""
    env = dict(os.environ)
    dirs = {
        "JUPYTER_CONFIG_DIR": home / "config",
        "JUPYTER_DATA_DIR": home / "data",
        "JUPYTER_RUNTIME_DIR": home / "runtime",
        "JUPYTERLAB_SETTINGS_DIR": home / "settings",
        "JUPYTERLAB_WORKSPACES_DIR": home / "workspaces",
        "IPYTHONDIR": home / "ipython",
    }
    for name, path in dirs.items():
        path.mkdir(parents=True, exist_ok=True)
        env[name] = str(path)
    env["JUPYTER_PLATFORM_DIRS"] = "1"
    env["MPLBACKEND"] = "Agg"
    env.pop("UNISST_DATA_DIR", None)
    # The kernel runs this interpreter (the venv's), whatever else is registered.
    _write_json(
        dirs["JUPYTER_DATA_DIR"] / "kernels" / "python3" / "kernel.json",
        {
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python 3 (unisst test)",
            "language": "python",
        },
    )
    settings = dirs["JUPYTERLAB_SETTINGS_DIR"] / "@jupyterlab"
    _write_json(
        settings / "apputils-extension" / "notification.jupyterlab-settings",
        {"fetchNews": "false", "checkForUpdates": False},
    )
    # Attach every cell to the DOM (no windowing): the widget output must render.
    _write_json(
        settings / "notebook-extension" / "tracker.jupyterlab-settings",
        {"windowingMode": "none"},
    )
    return env


def _wait_for_server(proc: subprocess.Popen, url: str, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"JupyterLab exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    pytest.fail(f"JupyterLab did not answer within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def _stop_server(proc: subprocess.Popen, base: str, token: str) -> None:
    """Ask the server to shut down (kernels included); then signal its process group."""
    if proc.poll() is None:
        req = urllib.request.Request(
            f"{base}/api/shutdown", method="POST", headers={"Authorization": f"token {token}"}
        )
        try:
            urllib.request.urlopen(req, timeout=5).close()
        except (urllib.error.URLError, OSError):
            pass
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
    # The server was started in its own session: its group holds only what it started.
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=5)
            break
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture
def jupyterlab(tmp_path, tiny_data_dir):
    """A running JupyterLab serving a copy of notebook 02; yields (url of the notebook)."""
    _require(CHROMIUM.exists(), f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _require(False, "playwright is not installed (pip install -e '.[test]')")
    pytest.importorskip("jupyterlab", reason="the notebooks extra is not installed")

    root = tmp_path / "notebooks"
    root.mkdir()
    name = NOTEBOOK.name
    _copy_notebook(root / name, tiny_data_dir)
    env = _lab_environment(tmp_path / "jupyter")
    port, token = _free_port(), secrets.token_hex(16)
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "jupyterlab.log"
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.open_browser=False",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
    ]
    if os.geteuid() == 0:  # CI containers run as root
        cmd.append("--ServerApp.allow_root=True")
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        _wait_for_server(proc, f"{base}/api/status?token={token}", log, timeout=45)
        yield f"{base}/lab/tree/{name}?token={token}"
    finally:
        _stop_server(proc, base, token)


def test_threshold_slider_updates_readout(jupyterlab, tiny_data_dir, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    from unisst_lib.views import explore

    explorer = explore.load_explorer(tiny_data_dir, index=PARAMS["sequence_index"])
    t0, thr0 = PARAMS["time_index"], PARAMS["threshold_gm2"]
    before = explorer.readout(thr0, t0)
    after = explorer.readout(NEW_THRESHOLD, t0)
    after_next_frame = explorer.readout(NEW_THRESHOLD, t0 + 1)
    # The readouts must differ, or the test could not see the slider act.
    assert len({before, after, after_next_frame}) == 3, (before, after, after_next_frame)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.goto(jupyterlab, wait_until="domcontentloaded", timeout=30_000)
            page.locator(".jp-NotebookPanel .jp-Notebook").first.wait_for(timeout=30_000)
            # Run All before the kernel is connected opens a "Select Kernel" dialog: wait
            # for the status bar's "<kernel> | Idle".
            expect(page.get_by_role("button", name=re.compile(r"\| Idle$"))).to_be_visible(
                timeout=45_000
            )
            # Run -> Run All Cells, through the menu bar.
            page.locator(".lm-MenuBar-item", has_text="Run").first.click()
            page.locator(".lm-Menu").get_by_text("Run All Cells", exact=True).click()

            readout = page.locator(".unisst-readout")
            expect(readout).to_have_text(before, timeout=45_000)
            slider = page.locator(".unisst-threshold")
            expect(slider.locator(".widget-readout")).to_have_text(f"{thr0:.1f}")

            handle = slider.locator(".noUi-handle")
            handle.focus()
            for _ in range(ARROW_PRESSES):
                handle.press("ArrowRight")
            expect(slider.locator(".widget-readout")).to_have_text(f"{NEW_THRESHOLD:.1f}")
            expect(readout).to_have_text(after, timeout=20_000)

            # The time slider drives the same readout.
            time_handle = page.locator(".unisst-time .noUi-handle")
            time_handle.focus()
            time_handle.press("ArrowRight")
            expect(readout).to_have_text(after_next_frame, timeout=20_000)
            # The frame figure is an image the kernel rendered.
            expect(page.locator("img.unisst-frame")).to_be_visible()
        except Exception:
            page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
            raise
        finally:
            browser.close()
