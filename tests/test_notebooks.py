"""The numbered notebooks: committed clean, executed headlessly without error, swept.

Every notebook in notebooks/ runs through papermill on the tiny twin with small
parameters (a few training steps, few frames); any error cell fails the test.
"""

from __future__ import annotations

import ast
import csv
import json
import logging
import math
import os
import sys
from pathlib import Path

import nbformat
import pytest

from unisst_lib.cli import main
from unisst_lib.notebooks.helpers import (
    LOG_HANDLER_NAME,
    notebook_log_handler,
    read_metrics,
    setup_notebook,
)
from unisst_lib.notebooks.kernel import ensure_kernel, kernel_spec
from unisst_lib.notebooks.locations import NotebookError, notebook_names, notebook_path
from unisst_lib.notebooks.params import (
    check_used,
    demo_parameters,
    load_parameter_file,
    notebook_parameters,
    parameters_for,
    parse_assignments,
)
from unisst_lib.notebooks.runner import run_notebook
from unisst_lib.notebooks.sweep import SWEEP_NOTEBOOKS, sweep, threshold_dir

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
NAMES = notebook_names(NOTEBOOKS)
REQUIRED = {
    "01_download", "02_mask_exploration", "03_training", "04_visualisation", "05_benchmark",
    "06_your_own_archive",
}  # fmt: skip


@pytest.fixture(scope="module")
def jupyter_home(tmp_path_factory):
    """A private Jupyter data directory holding the `unisst` kernel (the user's stays untouched)."""
    home = tmp_path_factory.mktemp("jupyter")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JUPYTER_DATA_DIR", str(home))
        ensure_kernel()
        yield home


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("notebooks")


def _parameters_cell(nb) -> list:
    return [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]


def test_the_issue_s_notebooks_are_all_there():
    assert REQUIRED <= set(NAMES), f"missing: {REQUIRED - set(NAMES)}"


@pytest.mark.parametrize("name", NAMES)
def test_committed_notebook_is_clean(name):
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    nbformat.validate(nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"cell {i} of {name} has outputs: strip them"
            assert cell.execution_count is None, f"cell {i} of {name} has an execution count"
    cells = _parameters_cell(nb)
    assert len(cells) == 1, f"{name}: {len(cells)} cells tagged 'parameters', need exactly one"
    tree = ast.parse(cells[0].source)
    names = [t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets
             if isinstance(t, ast.Name)]  # fmt: skip
    assert names, f"{name}: the parameters cell assigns nothing"
    assert all(isinstance(node, ast.Assign) for node in tree.body), "only assignments there"
    for n in names:
        assert not any(w in n.lower() for w in ("password", "token", "secret")), n
    assert any(c.cell_type == "markdown" for c in nb.cells), f"{name} has no narrative"


def _small_parameters(name: str, data_dir: Path, work: Path) -> dict:
    """Small parameters for each notebook (tiny twin, a few steps, few frames)."""
    run = work / "run"
    table = {
        "01_download": {"twin_size": "tiny"},
        "03_training": {"config": "tiny", "steps": 2, "eval_every": 2, "run_dir": run},
        "04_visualisation": {  # trains its own model (runs alone, e.g. with -k 04)
            "train_steps": 2,
            "train_config": "tiny",
            "train_run_dir": work / "run04",
            "n_eval": 2,
            "gif_frames": 3,
            "readme_figure": work / "docs" / "unisst_demo.png",
        },
        "05_benchmark": {"results_file": work / "results.json"},
        # the tiny embedded L3 archive (28 days of 72×80), two 2-step fits (CV and final)
        "06_your_own_archive": {"twin_size": "tiny", "fit_steps": 2},
    }
    declared = notebook_parameters(name, NOTEBOOKS)
    params = {k: v for k, v in {"data_dir": data_dir, "device": "cpu"}.items() if k in declared}
    if "out_dir" in declared:
        params["out_dir"] = work / name
    params.update(table.get(name, {}))
    return params


def _fake_results() -> dict:
    """A tiny benchmark result in the schema of benchmarks/results.json."""
    rows = []
    for method, info, base in (("mean_fill", "window", 0.7), ("unisst_hybrid", "window", 0.3)):
        for thr in (60.0, 70.0):
            rows.append({
                "method": method, "threshold_gm2": thr, "occlusion_rate": 0.5 + (70 - thr) / 100,
                "rmse_c": base + (70 - thr) / 100, "mae_c": 0.8 * base, "rmse_all_c": 0.5 * base,
                "effective_resolution_km": None if method == "mean_fill" else 80.0,
                "fill_seconds": 0.1, "frames_per_s": 1000.0, "train_seconds": 0.0,
                "information": info, "n_windows": 2,
            })  # fmt: skip
    k = [1 / 600, 1 / 300, 1 / 150, 1 / 75, 1 / 37.5]
    truth = [10.0, 3.0, 1.0, 0.3, 0.1]
    spectra = {
        "threshold_gm2": 70.0,
        "k_cpkm": k,
        "truth": truth,
        "methods": {
            "mean_fill": {"filled": [t * 0.5 for t in truth], "error": [t * 0.9 for t in truth]},
            "unisst_hybrid": {"filled": truth, "error": [t * 0.3 for t in truth]},
        },
    }
    meta = {"command": "test", "date": "today", "machine": "ci", "dx_km": 9.0,
            "figure": "accuracy.png"}  # fmt: skip
    return {"rows": rows, "spectra": spectra, "meta": meta}


def _errors(path: Path) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    return [
        f"cell {i}: {o.get('ename')}: {o.get('evalue')}"
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]


def _outputs(path: Path, kind: str) -> list[str]:
    """The texts of an executed notebook's outputs: a stream (``stdout``, ``stderr``) or a
    MIME type (``text/html``, ``text/markdown``) of displays and results."""
    nb = nbformat.read(path, as_version=4)
    out = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            if o.get("output_type") == "stream" and o.get("name") == kind:
                out.append(o["text"])
            elif kind in o.get("data", {}):
                out.append(o["data"][kind])
    return out


def _check_reader_facing_outputs(path: Path) -> None:
    """No log line in a pink stderr box, no raw keys or old units in the tables, and
    every Markdown image found from notebooks/ (where JupyterLab renders it)."""
    import re

    stderr = "".join(_outputs(path, "stderr"))
    assert "INFO" not in stderr and "unisst_lib" not in stderr, stderr[:500]
    tables = "".join(_outputs(path, "text/html"))
    for raw in ("rmse_c", "mae_c", "occluded_c", "_gm2", "g/m²", "g m-2", "<th>0</th>"):
        assert raw not in tables, f"{path.name}: {raw!r} in a table"
    for md in _outputs(path, "text/markdown"):
        assert "g/m²" not in md and "g m-2" not in md
        for target in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md):
            assert (NOTEBOOKS / target).is_file(), f"{path.name}: image {target} not found"


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_headless_without_error(name, tiny_data_dir, work, jupyter_home):
    (work / "results.json").write_text(json.dumps(_fake_results()))
    params = _small_parameters(name, tiny_data_dir, work)
    out = run_notebook(name, params, work / "executed", directory=NOTEBOOKS)
    assert out == work / "executed" / f"{name}.ipynb"
    assert _errors(out) == []
    executed = nbformat.read(out, as_version=4)
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1
    code = [c for c in executed.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code), "a cell did not run"
    if name == "01_download":
        inv = json.loads((work / name / "inventory.json").read_text())
        # three hourly-twin files, the daily L3 archive and its truth: all well
        assert [f["problems"] for f in inv["files"]] == [""] * 5
        assert any("twin_l3/" in f["file"] for f in inv["files"])
    if name == "03_training":
        m = read_metrics(work / name / "metrics.json")
        assert m["split"] == "val" and m["step"] == 2 and m["threshold_gm2"] == 70.0
        with open(work / "run" / "val_log.csv") as f:
            last = list(csv.DictReader(f))[-1]  # what training logged at its last evaluation
        for key, logged in (("rmse_c", "rmse_occluded_c"), ("occlusion_rate", "occlusion_rate")):
            assert m[key] == pytest.approx(float(last[logged]), rel=1e-12)
        want = _mean_fill_rmse_by_hand(tiny_data_dir, "val", 2)  # tiny: 2 val sequences
        assert m["mean_fill_rmse_c"] == pytest.approx(want, rel=1e-6)
        assert (work / "run" / "checkpoints" / "best.pt").is_file()
        # the data's log lines reach the cell output as plain stdout (setup_notebook)
        assert "SST sequences of 24 frames" in "".join(_outputs(out, "stdout"))
        _check_reader_facing_outputs(out)
    if name == "04_visualisation":
        m = read_metrics(work / name / "metrics.json")
        assert m["split"] == "test" and 0 < m["mae_c"] <= m["rmse_c"]
        want = _mean_fill_rmse_by_hand(tiny_data_dir, "test", 2)  # n_eval = 2
        assert m["mean_fill_rmse_c"] == pytest.approx(want, rel=1e-6)
        assert (work / name / "sample.png").is_file()
        assert (work / name / "sequence.gif").read_bytes()[:6] in (b"GIF89a", b"GIF87a")
        readme = work / "docs" / "unisst_demo.png"
        assert readme.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert readme.stat().st_size < 300_000
        stdout = "".join(_outputs(out, "stdout"))
        assert "Using the model trained here, " in stdout and "config tiny" in stdout
        assert "(withheld observed pixels). The bundled model: " in stdout
        tables = [h for h in _outputs(out, "text/html") if 'class="dataframe"' in h]
        assert len(tables) == 2  # this sequence's errors, then n_eval sequences'
        for raw in ("rmse_", "mae_", "_c<", "occlusion_rate", "<th>0</th>"):
            assert raw not in "".join(tables), f"{raw!r} in a table of 04"
        assert "RMSE under clouds (°C)" in tables[0] and "<th>sequences</th>" in tables[1]
        # bokeh/panel's scripts are written once, in one copy (JupyterLab's), not per output
        scripts = _outputs(out, "application/vnd.holoviews_load.v0+json")
        assert sum(len(js) > 1_000_000 for js in scripts) == 1
        assert all(len(js) < 100_000 for js in _outputs(out, "application/javascript"))
    if name == "05_benchmark":
        assert (work / name / "benchmark.png").is_file()
        assert "wrote " in "".join(_outputs(out, "stdout"))  # save_figure's log line
        _check_reader_facing_outputs(out)
        tables = "".join(_outputs(out, "text/html"))
        assert "UNISST hybrid (fast)" in tables and "60 g m⁻²" in tables
        (report,) = _outputs(out, "text/markdown")[-1:]
        assert "## Goals for UNISST hybrid (fast)" in report and "![" not in report
    if name == "06_your_own_archive":
        _check_archive_notebook(out, work / name, tiny_data_dir)


def _check_archive_notebook(out: Path, files: Path, data_dir: Path) -> None:
    """06 on the tiny embedded archive: every method scored, the fill saved and complete."""
    import numpy as np
    import xarray as xr

    _check_reader_facing_outputs(out)
    assert "Warning" not in "".join(_outputs(out, "stderr"))
    stdout = "".join(_outputs(out, "stdout"))
    assert "The embedded L3 archive (`twin_l3` of data_manifest.yaml, already on disk)" in stdout
    assert "UNISST is fitted twice, 2 steps each" in stdout
    assert f"unisst evaluate --data {data_dir / 'sst' / 'twin_l3'} " in stdout
    (describe,) = [h for h in _outputs(out, "text/html") if "<th>property</th>" in h]
    assert "P1D" in describe and "quality_level &gt;= 4" in describe
    assert "l2p_flags land bit" in describe and "2018-01-07" in describe  # an absent date
    cv = json.loads((files / "cross_validation.json").read_text())
    rows = {r["method"]: r for r in cv["rows"]}
    assert list(rows) == ["unisst", "interp", "dineof", "climatology"]
    assert all(r["status"] == "ok" and 0 < r["rmse_c"] < 5 for r in rows.values())
    assert len({r["hidden_pixels"] for r in rows.values()}) == 1  # the same pixels for all
    assert rows["unisst"]["fit_steps"] == 2 and "fitted on the CV input" in rows["unisst"]["note"]
    (table,) = [m for m in _outputs(out, "text/markdown") if "| method |" in m]
    assert "| UNISST |" in table and "| DINEOF |" in table
    assert (files / "cross_validation.md").read_text() == table
    assert (files / "unisst_fit.pt").is_file()
    with xr.open_dataset(files / "filled.nc") as filled:
        assert filled["sst"].dims == ("time", "latitude", "longitude")
        assert filled["sst"].shape == (28, 72, 80) and filled["sst"].attrs["units"] == "degrees_C"
        sea = ~np.isnan(filled["sst"].values).all(axis=0)
        assert np.isfinite(filled["sst"].values[:, sea]).all()  # every sea value, absent dates too
        assert filled["sst_filled_mask"].values[:, sea].any()
    images = sum("image/png" in o.get("data", {}) for c in nbformat.read(out, as_version=4).cells
                 for o in c.get("outputs", []))  # fmt: skip
    assert images == 5  # coverage, quality, CV maps (2), filled map
    # 2 steps do not beat the first guess (a warning above says so): no ensemble, said so
    assert "kept its first guess (2 steps did not beat it), so there is no ensemble" in stdout


def test_training_notebook_resumes_where_the_run_stopped(tiny_data_dir, work, jupyter_home):
    """03 with more steps on the run of the test above (or a 2-step run) continues it."""
    from unisst_lib.training.config import load_config
    from unisst_lib.training.loop import train
    from unisst_lib.views.plots import read_log

    run = work / "run"
    if not (run / "checkpoints" / "latest.pt").is_file():  # this test alone
        cfg = load_config("tiny", steps=2, eval_every=2, data={"data_dir": str(tiny_data_dir)})
        train(cfg, run, progress=False, tensorboard=False)
    before = read_log(run / "val_log.csv")
    assert [r["step"] for r in before] == [2.0]
    params = _small_parameters("03_training", tiny_data_dir, work)
    params.update(steps=4, resume=True, out_dir=work / "resumed")
    out = run_notebook("03_training", params, work / "resumed", directory=NOTEBOOKS)
    assert _errors(out) == []
    after = read_log(run / "val_log.csv")
    assert [r["step"] for r in after] == [2.0, 4.0]
    assert after[0] == before[0]  # the first evaluation is kept, not redone
    assert [r["step"] for r in read_log(run / "train_log.csv")] == [1.0, 2.0, 3.0, 4.0]
    assert read_metrics(work / "resumed" / "metrics.json")["step"] == 4
    assert "step 4 (" in out.read_text()


def test_benchmark_notebook_without_results_stops_gracefully(tmp_path, jupyter_home):
    """Through the CLI: no results.json is said plainly, and nothing fails."""
    missing = tmp_path / "no_such_results.json"
    rc = main([
        "notebooks", "05", "--out", str(tmp_path / "out"), "-q",
        "-p", f"results_file={missing}", "-p", f"out_dir={tmp_path / 'files'}",
    ])  # fmt: skip
    assert rc == 0
    out = tmp_path / "out" / "05_benchmark.ipynb"
    assert _errors(out) == []
    assert "No benchmark results at" in out.read_text()
    assert not (tmp_path / "files" / "benchmark.png").exists()


def _mean_fill_rmse_by_hand(data_dir: Path, split: str, n: int) -> float:
    """RMSE (°C) of each of the first ``n`` twin sequences' observed mean on its clouded
    pixels at 70 g m-2, pooled: numpy on the SST, not the evaluation code."""
    import numpy as np

    from unisst_lib.data.dataset import make_dataset

    ds = make_dataset("twin", split, threshold_gm2=70.0, mode="eval", data_dir=data_dir)
    errors = []
    for i in range(n):
        sst = np.asarray(ds.sequences[i].values, dtype=np.float64)
        clouded = ds[i]["mask"][0].numpy() > 0.5
        errors.append(sst[~clouded].mean() - sst[clouded & np.isfinite(sst)])
    return float(np.sqrt(np.mean(np.concatenate(errors) ** 2)))


def test_sweep_reports_a_failed_run_and_goes_on(tiny_data_dir, tmp_path, jupyter_home):
    # 5000 g m-2 (5 kg m-2) is no LWP threshold: training fails at once in that folder
    res = sweep(
        (70, 5000),
        {"config": "tiny", "steps": 2, "data_dir": tiny_data_dir, "device": "cpu"},
        tmp_path / "sweep",
        overrides={"04_visualisation": {"interactive": False, "make_gif": False, "n_eval": 2}},
        directory=NOTEBOOKS,
    )  # fmt: skip
    ok, bad = res.rows
    assert (ok["threshold_gm2"], bad["threshold_gm2"]) == (70.0, 5000.0)
    assert (ok["status"], ok["split"], ok["from_notebook"]) == ("ok", "test", "04_visualisation")
    assert 0 < ok["occlusion_rate"] < 1 and 0 < ok["mae_c"] <= ok["rmse_c"]
    want = _mean_fill_rmse_by_hand(tiny_data_dir, "test", 2)  # 04's n_eval = 2
    assert ok["mean_fill_rmse_c"] == pytest.approx(want, rel=1e-6)
    assert ok["sample"].endswith("sample.png") and Path(ok["sample"]).is_file()
    assert bad["status"] == "failed in 03_training"
    assert "ThresholdError" in bad["error"] and "In [" in bad["error"]
    assert bad["rmse_c"] is None
    t70, t5000 = threshold_dir(res.csv.parent, 70), threshold_dir(res.csv.parent, 5000)
    assert (t70 / "03_training.ipynb").is_file() and (t70 / "04_visualisation.ipynb").is_file()
    assert (t5000 / "03_training.ipynb").is_file()  # kept, with the traceback
    assert not (t5000 / "04_visualisation.ipynb").exists()  # skipped: nothing to map
    with open(res.csv, newline="") as f:
        table = list(csv.DictReader(f))
    assert [float(r["threshold_gm2"]) for r in table] == [70.0, 5000.0]
    assert math.isclose(float(table[0]["rmse_c"]), ok["rmse_c"]) and table[1]["rmse_c"] == ""
    md = res.markdown.read_text()
    assert "| 70 |" in md and "| 5000 |" in md and "failed in 03_training" in md
    assert res.figure is not None and res.figure.read_bytes()[:4] == b"\x89PNG"


def test_ensure_kernel_is_idempotent(tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path))
    path = ensure_kernel()
    spec_file = path / "kernel.json"
    assert path == tmp_path / "kernels" / "unisst"
    assert json.loads(spec_file.read_text())["argv"][0] == sys.executable
    before = spec_file.stat().st_mtime_ns
    os.utime(spec_file, ns=(before - 10**9, before - 10**9))
    assert ensure_kernel() == path
    assert spec_file.stat().st_mtime_ns == before - 10**9  # not rewritten
    from jupyter_client.kernelspec import KernelSpecManager

    assert KernelSpecManager().get_kernel_spec("unisst").argv[0] == sys.executable
    stale = kernel_spec("/somewhere/else/python")
    spec_file.write_text(json.dumps(stale))
    ensure_kernel()
    assert json.loads(spec_file.read_text()) == kernel_spec()


@pytest.fixture
def library_logger(monkeypatch, tmp_path):
    """The `unisst_lib` logger; handlers and level that setup_notebook adds are undone after."""
    monkeypatch.setenv("UNISST_HEADLESS", "1")  # setup_notebook keeps the working directory
    monkeypatch.chdir(tmp_path)
    lib = logging.getLogger("unisst_lib")
    level, handlers = lib.level, list(lib.handlers)
    yield lib
    for handler in [h for h in lib.handlers if h not in handlers]:
        lib.removeHandler(handler)
    lib.setLevel(level)


def test_setup_notebook_adds_one_handler_and_leaves_the_root_logger_alone(library_logger, tmp_path):
    root = logging.getLogger()
    before = (root.level, list(root.handlers))
    assert setup_notebook() == tmp_path.resolve()  # headless: the directory it was given
    setup_notebook(level=logging.DEBUG)
    mine = [h for h in library_logger.handlers if h.get_name() == LOG_HANDLER_NAME]
    assert len(mine) == 1, "a second call added a second handler"
    assert notebook_log_handler() is mine[0]
    assert library_logger.level == logging.DEBUG
    assert (root.level, list(root.handlers)) == before


def test_setup_notebook_logs_plain_lines_to_stdout(library_logger, capsys):
    setup_notebook()
    assert notebook_log_handler().stream is sys.stdout  # capsys's, read at each record
    log = logging.getLogger("unisst_lib.notebooks.test")
    log.info("wrote %s", "x.png")
    log.warning("no checkpoint")
    log.debug("not shown at INFO")
    out = capsys.readouterr().out.splitlines()
    assert "wrote x.png" in out
    assert "WARNING: no checkpoint" in out
    assert not any("not shown" in line for line in out)


def test_setup_notebook_moves_from_notebooks_to_the_repository_root(library_logger, monkeypatch):
    """In JupyterLab the kernel starts in notebooks/; relative paths mean the repository's."""
    monkeypatch.delenv("UNISST_HEADLESS")
    monkeypatch.chdir(NOTEBOOKS)
    assert setup_notebook() == ROOT == Path.cwd()


def test_parameters_are_checked_before_any_kernel_starts():
    with pytest.raises(NotebookError, match="has no parameter.*no_such_parameter"):
        run_notebook("03", {"no_such_parameter": 1}, "/nonexistent", directory=NOTEBOOKS)
    with pytest.raises(NotebookError, match="look like credentials"):
        run_notebook("03", {"cmems_password": "x"}, "/nonexistent", directory=NOTEBOOKS)
    with pytest.raises(NotebookError, match="no notebook '99'"):
        notebook_path("99", NOTEBOOKS)
    assert notebook_path("03", NOTEBOOKS).name == "03_training.ipynb"


def test_parameter_files_and_command_line_values(tmp_path):
    p = tmp_path / "p.yaml"
    p.write_text(
        "thresholds: [60, 70]\nout: runs/x\nparameters:\n  steps: 3\n  data_dir: null\n"
        "overrides:\n  04_visualisation: {make_gif: false}\n"
    )
    pf = load_parameter_file(p)
    assert pf.thresholds == (60.0, 70.0) and pf.out == "runs/x"
    assert pf.parameters == {"steps": 3, "data_dir": None}
    assert pf.overrides == {"04_visualisation": {"make_gif": False}}
    p.write_text("parameter:\n  steps: 3\n")
    with pytest.raises(NotebookError, match="unknown key.*parameter"):
        load_parameter_file(p)
    assert parse_assignments(["frames=[0, 12]", "config=tiny", "resume=false"]) == {
        "frames": [0, 12], "config": "tiny", "resume": False,
    }  # fmt: skip
    with pytest.raises(NotebookError, match="NAME=VALUE"):
        parse_assignments(["steps"])
    common = {"steps": 3, "data_dir": None}
    got = parameters_for("04", common, {"04_visualisation": {"make_gif": False}},
                             directory=NOTEBOOKS)  # fmt: skip
    assert got == {"data_dir": None, "make_gif": False}  # 04 has no `steps`


@pytest.mark.parametrize("source", ["sweep.yaml", "demo"])
def test_shipped_parameter_sets_match_the_notebooks(source):
    """sweep.yaml and `make demo`'s parameters name only parameters the notebooks declare."""
    if source == "demo":
        common, overrides = demo_parameters()
        names = NAMES
    else:
        pf = load_parameter_file(ROOT / "sweep.yaml")
        common, overrides = pf.parameters, pf.overrides
        names = list(pf.notebooks or SWEEP_NOTEBOOKS)
        assert pf.thresholds == (55.0, 60.0, 65.0, 70.0, 75.0, 80.0)
    check_used(common, names, NOTEBOOKS)
    for name in overrides:
        parameters_for(name, common, overrides, directory=NOTEBOOKS)


def test_cli_reports_bad_notebook_names_and_files_in_one_line(capsys, tmp_path):
    assert main(["notebooks", "99", "--out", str(tmp_path)]) == 2
    assert "error: no notebook '99'" in capsys.readouterr().err
    assert main(["sweep", "--config", str(tmp_path / "missing.yaml")]) == 2
    assert "cannot read parameter file" in capsys.readouterr().err
    assert main(["notebooks", "03", "--out", str(tmp_path), "-p", "stepz=3"]) == 2
    assert "no notebook among 03_training has parameter(s) stepz" in capsys.readouterr().err


def test_recover_sequence_gives_labelled_maps_in_celsius(tiny_data_dir):
    """What 04_visualisation maps: observed pixels exact, NaN under the clouds, coordinates."""
    import numpy as np
    import torch

    from unisst_lib.data.dataset import make_dataset
    from unisst_lib.evaluation.validation import recover_sequence, recovery_errors
    from unisst_lib.models import build_generator
    from unisst_lib.training.config import load_config

    torch.manual_seed(0)
    generator = build_generator(load_config("tiny").generator).train()
    ds = make_dataset("twin", "test", threshold_gm2=70, data_dir=tiny_data_dir)
    rec = recover_sequence(generator, ds, 1)
    assert generator.training  # mode restored
    assert list(rec.data_vars) == ["truth", "observation", "recovered", "mask"]
    seq = ds.sequences[1]
    for name in ("time", "latitude", "longitude"):
        np.testing.assert_array_equal(rec[name].values, seq[name].values)
    assert rec.recovered.dims == ("time", "latitude", "longitude")
    assert rec.truth.attrs["units"] == rec.recovered.attrs["units"] == "degrees_C"
    hidden = rec.mask.values == 1
    assert 0 < hidden.mean() < 1 and rec.attrs["occlusion_rate"] == pytest.approx(hidden.mean())
    assert rec.attrs["threshold_gm2"] == pytest.approx(70.0) and rec.attrs["sequence_index"] == 1
    assert np.isnan(rec.observation.values[hidden]).all()
    np.testing.assert_array_equal(rec.observation.values[~hidden], rec.recovered.values[~hidden])
    np.testing.assert_allclose(rec.truth.values, seq.values, atol=1e-4)  # °C, float32 round trip
    assert np.isfinite(rec.recovered.values).all()
    err = recovery_errors(rec)
    # observed pixels are exact, so the error over all pixels is the occluded one, diluted
    assert err["mae_all_c"] == pytest.approx(err["mae_occluded_c"] * hidden.mean())
    assert err["rmse_occluded_c"] > 0
    blind = make_dataset(
        "twin", "test", threshold_gm2=70, data_dir=tiny_data_dir, include_truth=False
    )
    real = recover_sequence(generator, blind, 1)
    assert "truth" not in real
    np.testing.assert_array_equal(real.recovered.values, rec.recovered.values)
    with pytest.raises(ValueError, match="no truth"):
        recovery_errors(real)


def test_download_notebook_without_an_account_says_why_and_uses_the_twin(
    tiny_data_dir, work, jupyter_home, tmp_path, monkeypatch
):
    """01 with source="copernicus" on a machine with no credentials (and no network)."""
    for var in ("COPERNICUSMARINE_SERVICE_USERNAME", "COPERNICUSMARINE_SERVICE_PASSWORD",
                "COPERNICUSMARINE_CREDENTIALS_DIRECTORY"):  # fmt: skip
        monkeypatch.delenv(var, raising=False)
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.copernicusmarine there
    params = _small_parameters("01_download", tiny_data_dir, work)
    params.update(source="copernicus", variant="reanalysis", out_dir=tmp_path / "out")
    out = run_notebook("01_download", params, tmp_path / "executed", directory=NOTEBOOKS)
    assert _errors(out) == []
    text = "".join(
        o.get("text", "")
        for c in nbformat.read(out, as_version=4).cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
    )
    assert "no Copernicus Marine credentials found" in text
    assert "Going on with the embedded default" in text
    inv = json.loads((tmp_path / "out" / "inventory.json").read_text())
    assert inv["source"] == "twin" and inv["split_set"] == "twin"
    assert [f["problems"] for f in inv["files"]] == [""] * 5
