"""The benchmark numbers the docs quote come from the results file, through marked blocks."""

from __future__ import annotations

import copy
import importlib.util
import json
import shutil
from pathlib import Path

import pytest
import yaml

from unisst_lib.benchmark import quotes
from unisst_lib.core.errors import DataNotFoundError, UnisstError

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results.json"


def _row(method, threshold, mean, lo, hi, seeds, resolution=None, train_seconds=0.0):
    return {
        "method": method,
        "threshold_gm2": threshold,
        "occlusion_rate": 0.4,
        "n_seeds": len(seeds),
        "rmse_c": {"mean": mean, "lo": lo, "hi": hi, "seed_sd": 0.0, "seeds": seeds},
        "mae_c": {"mean": mean / 2, "lo": lo / 2, "hi": hi / 2, "seed_sd": 0.0, "seeds": seeds},
        "effective_resolution_km": resolution,
        "fill_seconds": 1.0,
        "train_seconds": train_seconds,
    }


def _comparison(a, b, threshold, diff, lo, hi, verdict, metric="rmse_c"):
    return {
        "a": a, "b": b, "threshold_gm2": threshold, "metric": metric,
        "diff": diff, "lo": lo, "hi": hi, "verdict": verdict,
    }  # fmt: skip


def synthetic_results() -> dict:
    """A small results dict of the new schema; thresholds listed out of order on purpose."""
    window = {"sees": "window", "trained": False, "truth": False}
    res = {"mean": 21.4, "seeds": [21.0, 21.8]}
    rows = [
        _row("mean_fill", 55.0, 0.6794, 0.6601, 0.6999, [0.6794]),
        _row("mean_fill", 70.0, 0.6781, 0.6602, 0.6957, [0.6781]),
        _row("mean_fill", 80.0, 0.678, 0.66, 0.697, [0.678]),
        _row("dineof_window", 55.0, 0.281, 0.270, 0.292, [0.281], 31.0),
        _row("dineof_window", 70.0, 0.1414, 0.1349, 0.1481, [0.1414], 29.6),
        _row("dineof_window", 80.0, 0.0794, 0.075, 0.084, [0.0794], 28.0),
        _row("dineof_series", 55.0, 0.358, 0.35, 0.366, [0.358]),
        _row("dineof_series", 70.0, 0.1836, 0.1761, 0.1912, [0.1836], {"mean": None}),
        _row("dineof_series", 80.0, 0.119, 0.113, 0.125, [0.119]),
        _row("unisst_hybrid", 55.0, 0.2244, 0.2151, 0.2338, [0.2207, 0.2281]),
        _row("unisst_hybrid", 70.0, 0.1392, 0.1311, 0.1476, [0.1371, 0.1413], res, 700.0),
        _row("unisst_hybrid", 80.0, 0.1118, 0.1052, 0.1189, [0.1093, 0.1143]),
        _row("oracle_supervised", 70.0, 0.1302, 0.124, 0.137, [0.128, 0.1324], 27.6),
    ]
    comparisons = [
        _comparison("unisst_hybrid", "mean_fill", 70.0, -0.4, -0.5, -0.3, "a better", "mae_c"),
        _comparison("unisst_hybrid", "dineof_window", 55.0, -0.06, -0.07, -0.05, "a better"),
        _comparison("unisst_hybrid", "mean_fill", 70.0, -0.5389, -0.5561, -0.5204, "a better"),
        _comparison(
            "dineof_window", "unisst_hybrid", 70.0, 0.0021, -0.0062, 0.0104, "no difference"
        ),
        _comparison("unisst_hybrid", "dineof_series", 70.0, -0.0444, -0.052, -0.0371, "a better"),
        _comparison("unisst_hybrid", "oracle_supervised", 70.0, 0.009, 0.0031, 0.0152, "b better"),
    ]
    return {
        "meta": {
            "command": "python benchmarks/accuracy.py", "date": "2026-11-29",
            "seeds": [3, 5], "n_windows": 60, "n_blocks": 30,
            "bootstrap": {"replicates": 2000, "level": 0.95, "unit": "30 blocks of 6 days"},
            "default_threshold_gm2": 70.0, "thresholds_gm2": [80.0, 55.0, 70.0],
            "headline": "unisst_hybrid",
            "steps": {"unisst_hybrid": 240, "oracle_supervised": 240},
            "test_region": "satl_subtropical", "seq_len": 24,
        },
        "methods": {
            "mean_fill": {"label": "sequence mean", **window},
            "dineof_window": {"label": "DINEOF", **window},
            "dineof_series": {"label": "DINEOF", **window, "sees": "series"},
            "unisst_hybrid": {"label": "UNISST hybrid (default `fast`)", **window, "trained": True},
            "oracle_supervised": {"label": "oracle", **window, "trained": True, "truth": True},
        },
        "rows": rows,
        "comparisons": comparisons,
        "validation": {
            "unisst_self_supervised": {"holdout_rmse_c": {"mean": 0.1288, "seeds": [0.128]}},
            "unisst_hybrid": {"holdout_rmse_c": {"mean": 0.1204, "seeds": [0.12, 0.1208]}},
        },
        "spectra": {},
    }  # fmt: skip


H = "UNISST hybrid (default `fast`)"

README_TABLE = f"""\
| method | sees | RMSE 55 g m⁻² | RMSE 70 g m⁻² | RMSE 80 g m⁻² | resolves (70) |
| --- | --- | ---: | ---: | ---: | ---: |
| sequence mean | 24 frames | 0.679 (0.660–0.700) | 0.678 (0.660–0.696) | 0.678 (0.660–0.697) | – |
| DINEOF | 24 frames | 0.281 (0.270–0.292) | 0.141 (0.135–0.148) | 0.079 (0.075–0.084) | 30 km |
| DINEOF | whole half-year | 0.358 (0.350–0.366) | 0.184 (0.176–0.191) | 0.119 (0.113–0.125) | – |
| **{H}** | 24 frames | 0.224 (0.215–0.234) | 0.139 (0.131–0.148) | 0.112 (0.105–0.119) | 21 km |
| oracle | 24 frames | – | 0.130 (0.124–0.137) | – | 28 km |

RMSE on occluded pixels (°C): the mean over 2 seeds for trained methods (one run for the others),
in brackets its 95 % bootstrap confidence interval (2000 replicates over 30 blocks of 6 days).

{H} minus each other method: RMSE at 70 g m⁻², 95 % CI,
a verdict only where the CI excludes 0:

- {H} vs sequence mean (24 frames) at 70 g m⁻²: −0.539 °C (−0.556 to −0.520): better
- {H} vs DINEOF (24 frames) at 70 g m⁻²: −0.002 °C (−0.010 to 0.006): cannot be told apart
- {H} vs DINEOF (whole half-year) at 70 g m⁻²: −0.044 °C (−0.052 to −0.037): better
- {H} vs oracle (24 frames) at 70 g m⁻²: 0.009 °C (0.003 to 0.015): worse"""

HEADLINE = f"""\
The recipe chosen on validation, {H}, trained for 240 steps (about 12 minutes per seed),
fills the occluded pixels of the test region (a different ocean, never seen in training)
with an RMSE of 0.139 (0.131–0.148) °C at 70 g m⁻² (mean of 2 seeds, 95 % CI), against
0.678 (0.660–0.696) °C for filling with the sequence mean."""

FAST_CONFIG = f"""\
Results (benchmarks/results.json, 2026-11-29; `make bench`): 240 steps, 2 seeds.
The recipe was chosen on VALIDATION, by the mean RMSE on withheld observed pixels
of the validation sequences (never the truth under the clouds):
  {H}: 0.120 °C (chosen)
  unisst_self_supervised: 0.129 °C
On the test region (satl_subtropical, never seen in training):
RMSE on occluded pixels at 70 g m⁻², °C, with its 95 % CI:
  {H}: 0.139 (0.131–0.148)
against the baselines:
  sequence mean (24 frames): 0.678 (0.660–0.696)
  DINEOF (24 frames): 0.141 (0.135–0.148)
  DINEOF (whole half-year): 0.184 (0.176–0.191)"""

CHECKPOINT = """\
It is the `unisst_hybrid` model of `benchmarks/results.json` trained with seed 3 (240 steps),
one of the 2 seeds the benchmark trains. RMSE on occluded pixels (°C) on the
test region (satl_subtropical):

| clouds | this checkpoint (seed 3) | mean of 2 seeds (95 % CI) |
| --- | ---: | ---: |
| 55 g m⁻² | 0.221 | 0.224 (0.215–0.234) |
| 70 g m⁻² | 0.137 | 0.139 (0.131–0.148) |
| 80 g m⁻² | 0.109 | 0.112 (0.105–0.119) |"""


@pytest.fixture
def results() -> dict:
    return synthetic_results()


# ------------------------------------------------------------------ renderers
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("readme_table", README_TABLE),
        ("headline", HEADLINE),
        ("fast_config", FAST_CONFIG),
        ("checkpoint", CHECKPOINT),
    ],
)
def test_renderers_give_the_hand_written_text(results, name, expected):
    assert quotes.render(name, results) == expected


def test_the_table_follows_the_method_order_of_the_results(results):
    results["methods"] = dict(reversed(list(results["methods"].items())))
    lines = quotes.render("readme_table", results).splitlines()
    assert lines[2].startswith("| oracle | 24 frames | – | 0.130 (0.124–0.137) |")
    assert lines[6].startswith("| sequence mean |")


def test_the_headline_follows_meta_headline(results):
    results["meta"]["headline"] = "dineof_window"
    results["meta"]["steps"]["dineof_window"] = 0
    text = quotes.render("readme_table", results)
    assert "| **DINEOF** | 24 frames | 0.281" in text
    # the comparison stored as (dineof_window, unisst_hybrid) is now read from the other side
    assert f"- DINEOF vs {H} (24 frames) at 70 g m⁻²: 0.002 °C (−0.006 to 0.010): " in text


def test_an_unknown_verdict_is_refused(results):
    results["comparisons"][2]["verdict"] = "a much better"
    with pytest.raises(quotes.ResultsSchemaError, match="verdict 'a much better'"):
        quotes.render("readme_table", results)


def test_old_schema_results_are_refused_with_what_to_do(results):
    del results["comparisons"]
    with pytest.raises(quotes.ResultsSchemaError, match=r"no 'comparisons'.*accuracy\.py"):
        quotes.render("headline", results)
    with pytest.raises(quotes.QuoteMarkerError, match="no renderer for block 'tables'"):
        quotes.render("tables", synthetic_results())


def test_a_missing_row_the_headline_needs_is_named(results):
    results["rows"] = [r for r in results["rows"] if r["method"] != "mean_fill"]
    with pytest.raises(quotes.ResultsSchemaError, match="no row for 'mean_fill' at 70 g m⁻²"):
        quotes.render("headline", results)


# ------------------------------------------------------------------ blocks in files
MARKDOWN = """\
# Title

Some prose that stays.

<!-- bench:headline -->
old sentence 0.139 °C
<!-- /bench:headline -->

| a table | outside |

<!-- bench:checkpoint -->

<!-- /bench:checkpoint -->
tail
"""

YAML_TEXT = """\
# fast: the default, about the architecture.
# bench:fast_config
# Chosen from benchmarks/results.md: 0.139 °C at 70 g m-2.
# /bench:fast_config
# For longer runs (GPU), pass --steps.
name: fast
generator:
  arch: fast   # a comment on the data
  channel_mults: [1, 2, 4, 8]
loss:
  adversarial_weight: 1.0
"""


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_markdown_update_writes_the_rendered_blocks_and_keeps_the_rest(tmp_path, results):
    path = _write(tmp_path / "notes.md", MARKDOWN)
    assert quotes.stale_blocks(path, results) == ["headline", "checkpoint"]
    assert quotes.update_file(path, results) is True
    expected = (
        "# Title\n\nSome prose that stays.\n\n<!-- bench:headline -->\n\n"
        + HEADLINE
        + "\n\n<!-- /bench:headline -->\n\n| a table | outside |\n\n<!-- bench:checkpoint -->\n\n"
        + CHECKPOINT
        + "\n\n<!-- /bench:checkpoint -->\ntail\n"
    )
    assert path.read_text(encoding="utf-8") == expected
    assert quotes.stale_blocks(path, results) == []
    assert quotes.update_file(path, results) is False
    assert path.read_text(encoding="utf-8") == expected


def test_editing_a_number_inside_a_block_makes_it_stale(tmp_path, results):
    path = _write(tmp_path / "notes.md", MARKDOWN)
    quotes.update_file(path, results)
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("| 70 g m⁻² | 0.137 |", "| 70 g m⁻² | 0.136 |"), encoding="utf-8")
    assert quotes.stale_blocks(path, results) == ["checkpoint"]
    # new results make the untouched block stale too
    results["rows"][10]["rmse_c"]["mean"] = 0.1402
    assert quotes.stale_blocks(path, results) == ["headline", "checkpoint"]


def test_yaml_blocks_stay_comments_and_the_data_do_not_change(tmp_path, results):
    path = _write(tmp_path / "fast.yaml", YAML_TEXT)
    assert quotes.update_file(path, results) is True
    lines = path.read_text(encoding="utf-8").splitlines()
    start, end = lines.index("# bench:fast_config"), lines.index("# /bench:fast_config")
    assert lines[:start] == ["# fast: the default, about the architecture."]
    assert lines[start + 1 : end] == ["# " + line for line in FAST_CONFIG.splitlines()]
    assert lines[end + 1] == "# For longer runs (GPU), pass --steps."
    assert yaml.safe_load(path.read_text(encoding="utf-8")) == yaml.safe_load(YAML_TEXT)
    assert quotes.stale_blocks(path, results) == []


def test_empty_lines_in_a_yaml_block_are_bare_comment_signs(tmp_path, results, monkeypatch):
    monkeypatch.setitem(quotes.RENDERERS, "fast_config", lambda r: "one\n\ntwo")
    path = _write(tmp_path / "fast.yaml", YAML_TEXT)
    quotes.update_file(path, results)
    assert path.read_text(encoding="utf-8").splitlines()[1:6] == [
        "# bench:fast_config", "# one", "#", "# two", "# /bench:fast_config",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "a\n<!-- bench:tables -->\n<!-- /bench:tables -->\n",
            r"line 2: unknown block `bench:tables`",
        ),
        ("<!-- bench:headline -->\nx\n", r"line 1: block `bench:headline` is never closed"),
        (
            "<!-- bench:headline -->\n<!-- bench:checkpoint -->\n<!-- /bench:checkpoint -->\n",
            r"line 2: block `bench:checkpoint` opens inside `bench:headline` \(line 1\)",
        ),
        ("x\n\n<!-- /bench:headline -->\n", r"line 3: `/bench:headline` closes nothing"),
        (
            "<!-- bench:headline -->\n<!-- /bench:checkpoint -->\n",
            r"line 2: `/bench:checkpoint` closes nothing \(`bench:headline` is open\)",
        ),
    ],
)
def test_bad_markers_name_the_file_and_line(tmp_path, results, text, message):
    path = _write(tmp_path / "bad.md", text)
    with pytest.raises(quotes.QuoteMarkerError, match=rf"bad\.md, {message}") as err:
        quotes.update_file(path, results)
    assert isinstance(err.value, UnisstError)
    assert path.read_text(encoding="utf-8") == text  # nothing written
    with pytest.raises(quotes.QuoteMarkerError, match=message):
        quotes.stale_blocks(path, results)


def test_yaml_markers_are_checked_too(tmp_path, results):
    path = _write(tmp_path / "c.yaml", "# bench:fast_config\n# x\nname: fast\n")
    with pytest.raises(quotes.QuoteMarkerError, match=r"c\.yaml, line 1: .* never closed"):
        quotes.stale_blocks(path, results)


# ------------------------------------------------------------------ the command
def _quote_script():
    spec = importlib.util.spec_from_file_location("quote_script", ROOT / "benchmarks/quote.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fake_repo(tmp_path: Path, results: dict) -> Path:
    root = tmp_path / "repo"
    for name in quotes.QUOTED_FILES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / name, root / name)
    (root / "benchmarks").mkdir(exist_ok=True)
    (root / "benchmarks" / "results.json").write_text(json.dumps(results), encoding="utf-8")
    unc = ROOT / "benchmarks" / "uncertainty.json"  # the README's uncertainty block reads it
    shutil.copyfile(unc, root / "benchmarks" / "uncertainty.json")
    return root


def test_the_command_checks_then_updates_every_quoted_file(tmp_path, results, capsys):
    script, root = _quote_script(), _fake_repo(tmp_path, results)
    originals = {name: (root / name).read_text(encoding="utf-8") for name in quotes.QUOTED_FILES}
    assert script.main(["--check"], root=root) == 1
    out = capsys.readouterr().out
    assert "stale: README.md: headline, readme_table" in out
    assert "stale: configs/fast.yaml: fast_config" in out
    assert "stale: unisst_lib/checkpoints/README.md: checkpoint" in out
    assert {n: (root / n).read_text(encoding="utf-8") for n in originals} == originals

    assert script.main([], root=root) == 0
    assert script.main(["--check"], root=root) == 0
    readme = (root / "README.md").read_text(encoding="utf-8")
    assert README_TABLE in readme and HEADLINE in readme
    assert CHECKPOINT in (root / "unisst_lib/checkpoints/README.md").read_text(encoding="utf-8")
    for name in ("configs/fast.yaml", "unisst_lib/configs/fast.yaml"):
        text = (root / name).read_text(encoding="utf-8")
        assert yaml.safe_load(text) == yaml.safe_load(originals[name])
        assert "# On the test region (satl_subtropical, never seen in training):" in text
    # the prose around the blocks is kept, line for line
    before, after = originals["README.md"].splitlines(), readme.splitlines()
    assert (
        after[: before.index("<!-- bench:headline -->")]
        == before[: before.index("<!-- bench:headline -->")]
    )
    tail = before.index("<!-- /bench:readme_table -->")
    assert after[after.index("<!-- /bench:readme_table -->") :] == before[tail:]


def test_the_command_refuses_old_results_and_changes_nothing(tmp_path, results, capsys):
    old = copy.deepcopy(results)
    del old["comparisons"], old["validation"]
    script, root = _quote_script(), _fake_repo(tmp_path, old)
    readme = (root / "README.md").read_text(encoding="utf-8")
    assert script.main([], root=root) == 2
    assert "error: the benchmark results have no 'comparisons'" in capsys.readouterr().err
    assert (root / "README.md").read_text(encoding="utf-8") == readme
    with pytest.raises(DataNotFoundError, match="no benchmark results at"):
        quotes.load_results(tmp_path / "missing.json")


# ------------------------------------------------------------------ the repository itself
def test_the_quoted_files_hold_their_blocks():
    found = {name: quotes.block_names(ROOT / name) for name in quotes.QUOTED_FILES}
    assert found == {
        "README.md": ["headline", "uncertainty", "readme_table"],
        "configs/fast.yaml": ["fast_config"],
        "unisst_lib/configs/fast.yaml": ["fast_config"],
        "unisst_lib/checkpoints/README.md": ["checkpoint"],
    }


def _repo_results() -> dict | None:
    try:
        results = json.loads(RESULTS.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    unc = RESULTS.with_name("uncertainty.json")  # as quotes.load_results attaches it
    if unc.is_file():
        results["uncertainty"] = json.loads(unc.read_text(encoding="utf-8"))
    return results


_REPO_RESULTS = _repo_results()


@pytest.mark.skipif(
    _REPO_RESULTS is None or "comparisons" not in _REPO_RESULTS,
    reason="benchmarks/results.json predates the schema with seeds, CIs and comparisons: "
    "rerun benchmarks/accuracy.py, then `python benchmarks/quote.py`",
)
@pytest.mark.parametrize("name", quotes.QUOTED_FILES)
def test_repo_quotes_are_current(name):
    assert quotes.stale_blocks(ROOT / name, _REPO_RESULTS) == [], (
        f"{name} quotes numbers that differ from benchmarks/results.json: "
        "run `python benchmarks/quote.py`"
    )


def test_flat_rows_of_results_json_read_like_nested_ones():
    from unisst_lib.benchmark.quotes import _rmse

    flat = {"rmse_c": 0.139, "rmse_lo": 0.131, "rmse_hi": 0.148, "rmse_seeds": [0.137, 0.141]}
    nested = {"rmse_c": {"mean": 0.139, "lo": 0.131, "hi": 0.148, "seeds": [0.137, 0.141]}}
    assert _rmse(flat) == _rmse(nested) == nested["rmse_c"]


def _uncertainty(chosen_rows: list[dict], data_rows: list[dict] | None = None) -> dict:
    row = {"crps_c": 0.1, "mae_c": 0.2, "spread_skill": 0.9, "coverage_1sd": 0.7,
           "coverage_2sd": 0.95}  # fmt: skip
    on_data = {"noise_crps_data_calibrated": data_rows} if data_rows else {}
    return {
        "meta": {
            "chosen": "noise_crps",
            "members": 8,
            "seeds": [0, 1],
            "command": "c",
            "date": "d",
        },
        "test": {
            "70": {
                "noise_crps": chosen_rows,
                **on_data,
                "interp_local_std": [row],
                "hybrid_deterministic": [{"mae_c": 0.25}],
            }
        },
        "real_cv": {},
    }


def test_the_uncertainty_block_by_hand():
    good = {"crps_c": 0.1, "mae_c": 0.2, "spread_skill": 1.0, "coverage_1sd": 0.66,
            "coverage_2sd": 0.94}  # fmt: skip
    bad = {**good, "coverage_2sd": 0.91}
    text = quotes.RENDERERS["uncertainty"]({"uncertainty": _uncertainty([good, bad])})
    lines = text.splitlines()
    # the two seeds' mean ± their sd (0.94 and 0.91: 0.925 ± 0.021)
    assert lines[2] == (
        "| twin test, 70 g m⁻²: noise inputs, fair CRPS + critics | 0.100 ± 0.000 | "
        "0.200 ± 0.000 | 1.00 ± 0.00 | 0.660 ± 0.000 | 0.925 ± 0.021 |"
    )
    assert (
        lines[4] == "| twin test, 70 g m⁻²: UNISST hybrid, deterministic | – | 0.250 | – | – | – |"
    )
    assert lines[-1].endswith("on the twin, noise inputs, fair CRPS + critics: met everywhere.")
    text = quotes.RENDERERS["uncertainty"]({"uncertainty": _uncertainty([bad, bad], [good])})
    lines = text.splitlines()
    assert lines[3] == (
        "| twin test, 70 g m⁻²: noise inputs, fair CRPS + critics, calibrated on the data "
        "being filled | 0.100 | 0.200 | 1.00 | 0.660 | 0.940 |"
    )
    assert text.endswith(
        "critics: missed coverage_2sd at 70 g m⁻²; noise inputs, fair CRPS + critics, "
        "calibrated on the data being filled: met everywhere."
    )
    # an L3 CV seed whose fit kept its first guess: counted apart, said in the verdict
    unc = _uncertainty([good])
    unc["real_cv"] = {"unisst_ensemble": [good, {"seed": 2, "status": "failed", "reason": "r"}]}
    text = quotes.RENDERERS["uncertainty"]({"uncertainty": unc})
    assert "| L3 archive, cross-validation: UNISST ensemble (fitted on the CV input), seeds: " \
        "1, 1 failed | 0.100 | 0.200 | 1.00 | 0.660 | 0.940 |" in text  # fmt: skip
    assert text.endswith(
        "On the L3 cross-validation: met (by the seeds whose fit beat its first guess; 1 of 2 "
        "did not, and has no ensemble)."
    )
    with pytest.raises(DataNotFoundError, match="run `python benchmarks/uncertainty.py`"):
        quotes.RENDERERS["uncertainty"]({})
