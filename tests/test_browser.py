"""A real browser: JupyterLab + Debian's chromium run notebooks 02, 04 and 05 as a user would.

The tests start JupyterLab on loopback (random free port, token, temporary copies of
the notebooks pointed at the tiny twin, a throw-away settings dir with news and update
checks off, the ``unisst`` kernelspec for this interpreter and no other), drive
``/usr/bin/chromium`` headless through Playwright (never ``playwright install``) at
1280×800 with the file browser open, and Run All from the Run menu:

* 02: the LWP and time sliders are fully visible and move the occlusion-rate readout to
  exactly what :mod:`unisst_lib.views.explore` computes;
* 04: the model line says which model is used, and the interactive view's time slider
  is fully visible;
* 05: the tables and the figure render;
* every notebook: no browser console error, no failed request (HTTP >= 400), no error
  output. ``$UNISST_SCREENSHOT_DIR`` (default: the test's tmp dir) receives a 1280×800
  screenshot of each (``docs/screenshots/`` holds the committed ones).

Without chromium (or playwright) the tests are skipped, unless ``$CI`` is set: then they
fail, so CI cannot silently lose them (``.ci/run`` installs chromium with apt-get).
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
VIEWPORT = {"width": 1280, "height": 800}
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
# What the copied 02 is run with; the expected readouts use the same values.
PARAMS = {"sequence_index": 1, "threshold_gm2": 70.0, "time_index": 0, "seed": 0}
NOTEBOOKS = ("02_mask_exploration", "04_visualisation", "05_benchmark")
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


def _notebook_parameters(name: str, data_dir: Path, out: Path) -> dict:
    """What each copied notebook runs with: the tiny twin, outputs in the tmp dir."""
    if name == "02_mask_exploration":
        return {"data_dir": str(data_dir), **PARAMS}
    if name == "04_visualisation":  # no run of the user's here: the bundled model
        return {"data_dir": str(data_dir), "n_eval": 4, "out_dir": str(out / name)}
    return {"results_file": str(REPO / "benchmarks" / "results.json"), "out_dir": str(out / name)}


def _copy_notebook(name: str, dest_dir: Path, params: dict) -> None:
    """The committed notebook with papermill's injected parameters cell."""
    import nbformat
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    nb = load_notebook_node(str(REPO / "notebooks" / f"{name}.ipynb"))
    nbformat.write(parameterize_notebook(nb, params), dest_dir / f"{name}.ipynb")


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
    # The notebooks' kernel, `unisst`, runs this interpreter (the venv's), as `unisst kernel`
    # registers it; JupyterLab settings as `unisst kernel` writes them.
    from unisst_lib.notebooks.kernel import KERNEL_NAME, LAB_SETTINGS, kernel_spec

    _write_json(dirs["JUPYTER_DATA_DIR"] / "kernels" / KERNEL_NAME / "kernel.json", kernel_spec())
    settings = dirs["JUPYTERLAB_SETTINGS_DIR"]
    for plugin, values in LAB_SETTINGS.items():
        package, _, name = plugin.partition(":")
        _write_json(settings / package / f"{name}.jupyterlab-settings", values)
    # Attach every cell to the DOM (no windowing): the widget output must render.
    _write_json(
        settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings",
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


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory, tiny_data_dir):
    """A running JupyterLab serving copies of 02, 04 and 05; yields (base url, token, tmp)."""
    _require(CHROMIUM.exists(), f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _require(False, "playwright is not installed (pip install -e '.[test]')")
    pytest.importorskip("jupyterlab", reason="the notebooks extra is not installed")

    tmp = tmp_path_factory.mktemp("lab")
    root = tmp / "notebooks"
    root.mkdir()
    for name in NOTEBOOKS:
        _copy_notebook(name, root, _notebook_parameters(name, tiny_data_dir, tmp / "outputs"))
    env = _lab_environment(tmp / "jupyter")
    port, token = _free_port(), secrets.token_hex(16)
    base = f"http://127.0.0.1:{port}"
    log = tmp / "jupyterlab.log"
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
        "--KernelSpecManager.allowed_kernelspecs=unisst",
        "--MappingKernelManager.default_kernel_name=unisst",
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
        yield base, token, tmp
    finally:
        _stop_server(proc, base, token)


class _Session:
    """A chromium page at 1280×800 that records console errors and failed requests."""

    def __init__(self, pw, tmp: Path, name: str) -> None:
        self.name, self.tmp = name, tmp
        self.browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        self.page = self.browser.new_page(viewport=VIEWPORT)
        self.console_errors: list[str] = []
        self.failed: list[str] = []
        self.page.on(
            "console",
            lambda m: self.console_errors.append(m.text) if m.type == "error" else None,
        )
        self.page.on(
            "response",
            lambda r: self.failed.append(f"{r.status} {r.url}") if r.status >= 400 else None,
        )

    def run_all(self, base: str, token: str) -> None:
        """Open the notebook, make sure the file browser is open, Run All, wait until done."""
        from playwright.sync_api import expect

        page = self.page
        # ?reset: a fresh workspace, not the one the previous test left with its notebook open
        page.goto(f"{base}/lab/tree/{self.name}.ipynb?reset&token={token}", timeout=30_000)
        page.locator(".jp-NotebookPanel .jp-Notebook").first.wait_for(timeout=30_000)
        # Run All before the kernel is connected opens a "Select Kernel" dialog.
        expect(page.get_by_role("button", name=re.compile(r"\(unisst\) \| Idle$"))).to_be_visible(
            timeout=45_000
        )
        if not page.locator("#filebrowser").is_visible():
            page.locator('.jp-SideBar [data-id="filebrowser"]').click()
        expect(page.locator("#filebrowser")).to_be_visible()
        page.locator(".lm-MenuBar-item", has_text="Run").first.click()
        page.locator(".lm-Menu").get_by_text("Run All Cells", exact=True).click()
        # Done: every code cell has an execution count and none is queued or running.
        page.wait_for_function(
            """() => {
                const prompts = [...document.querySelectorAll(
                    '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputArea-prompt')];
                const done = p => /^\\[\\d+\\]:$/.test(p.textContent.trim());
                const failed = document.querySelector(
                    ".jp-OutputArea-output[data-mime-type*='error']");  // Run All stops there
                const busy = prompts.some(p => p.textContent.includes('*'));
                return prompts.length > 0 && (prompts.every(done) || (failed && !busy));
            }""",
            timeout=240_000,
        )

    def check_clean(self) -> None:
        """No error output in the notebook, no console error, no failed request."""
        errors = self.page.locator(".jp-OutputArea-output[data-mime-type*='error']")
        assert errors.count() == 0, errors.first.inner_text()[:2000]
        assert self.console_errors == [], self.console_errors[:5]
        assert self.failed == [], self.failed[:5]

    def fully_visible(self, selector: str) -> None:
        """The element is on screen, not cut off left or right (1280 px, file browser open)."""
        from playwright.sync_api import expect

        el = self.page.locator(selector).first
        el.scroll_into_view_if_needed()
        expect(el).to_be_visible()
        box = el.bounding_box()
        assert box is not None and box["x"] >= 0, (selector, box)
        assert box["x"] + box["width"] <= VIEWPORT["width"], (selector, box)

    def screenshot(self, selector: str) -> Path:
        """A 1280×800 picture with ``selector`` in view, into $UNISST_SCREENSHOT_DIR or tmp."""
        self.page.locator(selector).first.scroll_into_view_if_needed()
        out = Path(os.environ.get("UNISST_SCREENSHOT_DIR") or self.tmp)
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"{self.name}.png"
        self.page.screenshot(path=str(path))
        return path

    def close(self, failed: bool) -> None:
        if failed:
            self.page.screenshot(path=str(self.tmp / f"{self.name}-failure.png"), full_page=True)
        self.browser.close()


@pytest.fixture
def session(jupyterlab, request):
    from playwright.sync_api import sync_playwright

    _, _, tmp = jupyterlab
    failures_before = request.session.testsfailed
    with sync_playwright() as pw:
        s = _Session(pw, tmp, request.param)
        try:
            yield s
        finally:
            s.close(failed=request.session.testsfailed > failures_before)


@pytest.mark.parametrize("session", ["02_mask_exploration"], indirect=True)
def test_02_sliders_move_the_readout(jupyterlab, session, tiny_data_dir):
    from playwright.sync_api import expect

    from unisst_lib.views import explore

    explorer = explore.load_explorer(tiny_data_dir, index=PARAMS["sequence_index"])
    t0, thr0 = PARAMS["time_index"], PARAMS["threshold_gm2"]
    before = explorer.readout(thr0, t0)
    after = explorer.readout(NEW_THRESHOLD, t0)
    after_next_frame = explorer.readout(NEW_THRESHOLD, t0 + 1)
    # The readouts must differ, or the test could not see the slider act.
    assert len({before, after, after_next_frame}) == 3, (before, after, after_next_frame)

    base, token, _ = jupyterlab
    session.run_all(base, token)
    page = session.page
    readout = page.locator(".unisst-readout")
    expect(readout).to_have_text(before, timeout=45_000)
    for slider in (".unisst-threshold", ".unisst-time"):
        session.fully_visible(slider)
    session.screenshot(".unisst-threshold")
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
    expect(page.locator("img.unisst-frame")).to_be_visible()
    session.check_clean()


@pytest.mark.parametrize("session", ["04_visualisation"], indirect=True)
def test_04_says_which_model_and_its_slider_fits(jupyterlab, session):
    from playwright.sync_api import expect

    base, token, _ = jupyterlab
    session.run_all(base, token)
    page = session.page
    # No run of the user's in this fresh folder: the bundled model, said in one line.
    line = page.locator(".jp-OutputArea-output", has_text=re.compile(r"^Using the bundled model"))
    expect(line.first).to_be_visible()
    session.fully_visible(".bk-panel-models-widgets-DiscreteSlider, .noUi-target")
    session.screenshot(".bk-panel-models-widgets-DiscreteSlider, .noUi-target")
    session.check_clean()


@pytest.mark.parametrize("session", ["05_benchmark"], indirect=True)
def test_05_renders_tables_and_figure(jupyterlab, session):
    from playwright.sync_api import expect

    base, token, _ = jupyterlab
    session.run_all(base, token)
    page = session.page
    expect(page.locator(".jp-RenderedHTMLCommon table").first).to_be_visible()
    figure = page.locator(".jp-RenderedImage img").first
    expect(figure).to_be_visible()
    session.screenshot(".jp-RenderedImage img")
    session.check_clean()
