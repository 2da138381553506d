"""Benchmark numbers quoted in the docs, regenerated from ``benchmarks/results.json``.

The README, the ``fast`` config and the checkpoint notes quote the accuracy
benchmark. Each quote sits in a marked block that :func:`update_file` rewrites
from the results dict, so no number is typed by hand:

* Markdown: a line ``<!-- bench:NAME -->``, the text, a line ``<!-- /bench:NAME -->``
  (a blank line after the opening and before the closing marker);
* YAML (any file that is not Markdown): ``# bench:NAME`` … ``# /bench:NAME``, every
  line between them a comment (``# text``), so the YAML data never change.

``NAME`` is a renderer of :data:`RENDERERS`; :func:`render` gives its text for a
results dict of the schema ``benchmarks/accuracy.py`` writes (``meta``,
``methods``, ``rows``, ``comparisons``, ``validation``). :func:`stale_blocks`
names the blocks whose text differs from what the results give (the test suite
and ``python benchmarks/quote.py --check`` use it).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unisst_lib.benchmark.uncertainty_quotes import render_uncertainty
from unisst_lib.core.errors import DataNotFoundError, UnisstError
from unisst_lib.core.paths import atomic_path

log = logging.getLogger(__name__)

QUOTED_FILES = (
    "README.md",
    "configs/fast.yaml",
    "unisst_lib/configs/fast.yaml",
    "unisst_lib/checkpoints/README.md",
)
"""Files (relative to the repository root) whose benchmark numbers come from the results."""

REQUIRED = {
    "meta": (
        "seeds",
        "default_threshold_gm2",
        "thresholds_gm2",
        "headline",
        "steps",
        "bootstrap",
        "test_region",
    ),
    "methods": (),
    "rows": (),
    "comparisons": (),
    "validation": (),
}
"""Keys (and keys of ``meta``) every renderer may rely on."""

SEES = {"series": "whole half-year"}
"""What a method sees, for ``sees`` values other than ``window`` (``seq_len`` frames)."""

VERDICTS = {"a better": "better", "b better": "worse", "no difference": "cannot be told apart"}
"""A comparison's verdict, read from the side of its method ``a``."""

_FLIP = {"a better": "b better", "b better": "a better", "no difference": "no difference"}
_MD_MARKER = re.compile(r"^\s*<!--\s*(/?)bench:(\S*?)\s*-->\s*$")
_HASH_MARKER = re.compile(r"^\s*#\s*(/?)bench:(\S*)\s*$")
_MARKDOWN_SUFFIXES = (".md", ".markdown")


class QuoteMarkerError(UnisstError, ValueError):
    """A ``bench:`` block marker that is unknown, unclosed, nested or closes nothing."""


class ResultsSchemaError(UnisstError, ValueError):
    """A results dict (``benchmarks/results.json``) without what the quotes need."""


# ------------------------------------------------------------------ numbers
def _num(x: float) -> str:
    """``x`` to 3 decimals, a true minus sign for negatives and never ``-0.000``.

    Examples
    --------
    >>> _num(0.1394), _num(-0.0021), _num(-0.0001)
    ('0.139', '−0.002', '0.000')
    """
    text = f"{x:.3f}"
    if text.startswith("-"):
        text = "0.000" if float(text) == 0 else "−" + text[1:]
    return text


def _ci(stat: Mapping[str, Any]) -> str:
    """``mean (lo–hi)`` of a statistic with ``mean``, ``lo`` and ``hi``.

    Examples
    --------
    >>> _ci({"mean": 0.139, "lo": 0.131, "hi": 0.148})
    '0.139 (0.131–0.148)'
    """
    return f"{_num(stat['mean'])} ({_num(stat['lo'])}–{_num(stat['hi'])})"


def _rmse(row: Mapping[str, Any]) -> Mapping[str, Any]:
    """A row's RMSE as ``mean``, ``lo``, ``hi``, ``seeds``: nested, or from the flat keys
    ``rmse_c``, ``rmse_lo``, ``rmse_hi``, ``rmse_seeds`` that results.json holds."""
    value = row["rmse_c"]
    if isinstance(value, Mapping):
        return value
    return {"mean": value, "lo": row["rmse_lo"], "hi": row["rmse_hi"], "seeds": row["rmse_seeds"]}


def _gm2(threshold: float) -> str:
    return f"{threshold:g} g m⁻²"


def _level(results: Mapping[str, Any]) -> str:
    return f"{100 * results['meta']['bootstrap']['level']:g} %"


# ------------------------------------------------------------------ results
def check_results(results: Mapping[str, Any]) -> None:
    """Raise :class:`ResultsSchemaError` unless ``results`` has every key the quotes read."""
    if not isinstance(results, Mapping):
        raise ResultsSchemaError(f"results must be a dict (results.json), got {type(results)}")
    for key in REQUIRED:
        if key not in results:
            raise ResultsSchemaError(
                f"the benchmark results have no {key!r}: an old-schema results.json? "
                "Run `python benchmarks/accuracy.py` to regenerate it."
            )
    for key, subkeys in REQUIRED.items():
        missing = [k for k in subkeys if k not in results[key]]
        if missing:
            raise ResultsSchemaError(
                f"the benchmark results' {key!r} lacks {missing}: "
                "run `python benchmarks/accuracy.py` to regenerate them."
            )
    headline = results["meta"]["headline"]
    if headline not in results["methods"]:
        raise ResultsSchemaError(f"meta.headline {headline!r} is not one of the methods")


def load_results(path: str | Path) -> dict[str, Any]:
    """Read a ``results.json`` and check it has what the quotes need."""
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(
            f"no benchmark results at {path}: run `python benchmarks/accuracy.py` first"
        )
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ResultsSchemaError(f"{path} is not valid JSON ({err}): rerun the benchmark") from err
    check_results(results)
    unc = path.with_name("uncertainty.json")  # benchmarks/uncertainty.py, when it has run
    if unc.is_file():
        results["uncertainty"] = json.loads(unc.read_text(encoding="utf-8"))
    return results


def _thresholds(results: Mapping[str, Any]) -> tuple[float, float, float]:
    """The lowest, default and highest LWP threshold of the benchmark."""
    meta = results["meta"]
    return min(meta["thresholds_gm2"]), meta["default_threshold_gm2"], max(meta["thresholds_gm2"])


def _row(results: Mapping[str, Any], method: str, threshold: float) -> dict[str, Any] | None:
    for row in results["rows"]:
        if row["method"] == method and abs(row["threshold_gm2"] - threshold) < 1e-6:
            return row
    return None


def _needed_row(results: Mapping[str, Any], method: str, threshold: float) -> dict[str, Any]:
    row = _row(results, method, threshold)
    if row is None:
        raise ResultsSchemaError(f"the results have no row for {method!r} at {_gm2(threshold)}")
    return row


def _label(results: Mapping[str, Any], method: str) -> str:
    return results["methods"].get(method, {}).get("label", method)


def _sees(results: Mapping[str, Any], method: str) -> str:
    """What ``method`` sees: ``24 frames`` (its window) or ``whole half-year``."""
    sees = results["methods"][method].get("sees")
    if sees == "window":
        return f"{results['meta'].get('seq_len', 24)} frames"
    if sees not in SEES:
        raise ResultsSchemaError(
            f"method {method!r} sees {sees!r}: expected 'window' or one of {sorted(SEES)}"
        )
    return SEES[sees]


def _resolution(row: Mapping[str, Any] | None) -> str:
    res = None if row is None else row.get("effective_resolution_km")
    mean = res.get("mean") if isinstance(res, Mapping) else res
    return "–" if mean is None else f"{mean:.0f} km"


def _headline_comparisons(results: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(other method, comparison read as headline − other) at the default threshold."""
    headline, (_, mid, _) = results["meta"]["headline"], _thresholds(results)
    found: dict[str, dict[str, Any]] = {}
    for comp in results["comparisons"]:
        if comp.get("metric") != "rmse_c" or abs(comp["threshold_gm2"] - mid) > 1e-6:
            continue
        if comp["verdict"] not in VERDICTS:
            raise ResultsSchemaError(
                f"comparison {comp['a']} vs {comp['b']} has verdict {comp['verdict']!r}: "
                f"expected one of {sorted(VERDICTS)}"
            )
        if comp["a"] == headline and comp["b"] not in found:
            found[comp["b"]] = comp
        elif comp["b"] == headline and comp["a"] not in found:
            found[comp["a"]] = {
                "diff": -comp["diff"], "lo": -comp["hi"], "hi": -comp["lo"],
                "verdict": _FLIP[comp["verdict"]],
            }  # fmt: skip
    return [(m, found[m]) for m in results["methods"] if m in found]


# ------------------------------------------------------------------ renderers
def render_readme_table(results: Mapping[str, Any]) -> str:
    """The README's comparison table, its legend and the headline's paired comparisons."""
    lo, mid, hi = _thresholds(results)
    headline = results["meta"]["headline"]
    lines = [
        f"| method | sees | RMSE {_gm2(lo)} | RMSE {_gm2(mid)} | RMSE {_gm2(hi)} "
        f"| resolves ({mid:g}) |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for method, info in results["methods"].items():
        label = f"**{info['label']}**" if method == headline else info["label"]
        cells = [_row(results, method, t) for t in (lo, mid, hi)]
        rmse = ["–" if row is None else _ci(_rmse(row)) for row in cells]
        lines.append(
            f"| {label} | {_sees(results, method)} | {' | '.join(rmse)} | {_resolution(cells[1])} |"
        )
    meta = results["meta"]
    boot = meta["bootstrap"]
    lines += [
        "",
        f"RMSE on occluded pixels (°C): the mean over {len(meta['seeds'])} seeds for trained "
        "methods (one run for the others),",
        f"in brackets its {_level(results)} bootstrap confidence interval "
        f"({boot['replicates']} replicates over {boot['unit']}).",
        "",
        f"{_label(results, headline)} minus each other method: RMSE at {_gm2(mid)}, "
        f"{_level(results)} CI,",
        "a verdict only where the CI excludes 0:",
        "",
    ]
    comps = _headline_comparisons(results)
    lines += [_comparison_line(results, other, comp) for other, comp in comps] or [
        f"- no paired comparison of {_label(results, headline)} at {_gm2(mid)} in the results"
    ]
    return "\n".join(lines)


def _comparison_line(results: Mapping[str, Any], other: str, comp: Mapping[str, Any]) -> str:
    mid = results["meta"]["default_threshold_gm2"]
    return (
        f"- {_label(results, results['meta']['headline'])} vs {_label(results, other)} "
        f"({_sees(results, other)}) at {_gm2(mid)}: {_num(comp['diff'])} °C "
        f"({_num(comp['lo'])} to {_num(comp['hi'])}): {VERDICTS[comp['verdict']]}"
    )


def render_headline(results: Mapping[str, Any]) -> str:
    """The README's training paragraph: the headline recipe's RMSE against the sequence mean."""
    meta = results["meta"]
    headline, mid = meta["headline"], meta["default_threshold_gm2"]
    row, mean_row = _needed_row(results, headline, mid), _needed_row(results, "mean_fill", mid)
    return "\n".join(
        [
            f"The recipe chosen on validation, {_label(results, headline)}, trained for "
            f"{_steps(results, headline)} steps{_minutes(row)},",
            "fills the occluded pixels of the test region (a different ocean, never seen in "
            "training)",
            f"with an RMSE of {_ci(_rmse(row))} °C at {_gm2(mid)} (mean of {row['n_seeds']} "
            f"seeds, {_level(results)} CI), against",
            f"{_ci(_rmse(mean_row))} °C for filling with the {_label(results, 'mean_fill')}.",
        ]
    )


def _steps(results: Mapping[str, Any], method: str) -> int:
    steps = results["meta"]["steps"]
    if method not in steps:
        raise ResultsSchemaError(f"meta.steps has no entry for the trained method {method!r}")
    return steps[method]


def _minutes(row: Mapping[str, Any]) -> str:
    seconds = row.get("train_seconds")
    return "" if not seconds else f" (about {seconds / 60:.0f} minutes per seed)"


def render_fast_config(results: Mapping[str, Any]) -> str:
    """The ``fast`` config's comment: the validation that chose it and its test scores."""
    meta = results["meta"]
    headline, mid = meta["headline"], meta["default_threshold_gm2"]
    row = _needed_row(results, headline, mid)
    lines = [
        f"Results (benchmarks/results.json, {meta.get('date', 'undated')}; `make bench`): "
        f"{_steps(results, headline)} steps, {row['n_seeds']} seeds.",
        "The recipe was chosen on VALIDATION, by the mean RMSE on withheld observed pixels",
        "of the validation sequences (never the truth under the clouds):",
        *_validation_lines(results),
        f"On the test region ({meta['test_region']}, never seen in training):",
        f"RMSE on occluded pixels at {_gm2(mid)}, °C, with its {_level(results)} CI:",
        f"  {_label(results, headline)}: {_ci(_rmse(row))}",
        "against the baselines:",
    ]
    for method, info in results["methods"].items():
        base = _row(results, method, mid)
        if not info.get("trained") and not info.get("truth") and base is not None:
            lines.append(f"  {info['label']} ({_sees(results, method)}): {_ci(_rmse(base))}")
    return "\n".join(lines)


def _validation_lines(results: Mapping[str, Any]) -> list[str]:
    validation, headline = results["validation"], results["meta"]["headline"]
    order = [m for m in results["methods"] if m in validation]
    order += [m for m in validation if m not in order]
    lines = []
    for method in order:
        mean = validation[method]["holdout_rmse_c"]["mean"]
        mark = " (chosen)" if method == headline else ""
        lines.append(f"  {_label(results, method)}: {_num(mean)} °C{mark}")
    means = {m: validation[m]["holdout_rmse_c"]["mean"] for m in order}
    if means and headline in means and means[headline] > min(means.values()):
        log.warning("meta.headline %s is not the lowest validation RMSE %s", headline, means)
    return lines


def render_checkpoint(results: Mapping[str, Any]) -> str:
    """The bundled checkpoint (the headline recipe, first seed): its RMSE and the seeds' mean."""
    meta = results["meta"]
    headline, seed, n_seeds = meta["headline"], meta["seeds"][0], len(meta["seeds"])
    region = meta["test_region"]
    lines = [
        f"It is the `{headline}` model of `benchmarks/results.json` trained with seed {seed} "
        f"({_steps(results, headline)} steps),",
        f"one of the {n_seeds} seeds the benchmark trains. RMSE on occluded pixels (°C) on the",
        f"test region ({region}):",
        "",
        f"| clouds | this checkpoint (seed {seed}) | mean of {n_seeds} seeds "
        f"({_level(results)} CI) |",
        "| --- | ---: | ---: |",
    ]
    for threshold in _thresholds(results):
        rmse = _rmse(_needed_row(results, headline, threshold))
        lines.append(f"| {_gm2(threshold)} | {_num(rmse['seeds'][0])} | {_ci(rmse)} |")
    return "\n".join(lines)


RENDERERS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "readme_table": render_readme_table,
    "headline": render_headline,
    "fast_config": render_fast_config,
    "checkpoint": render_checkpoint,
    "uncertainty": render_uncertainty,
}
"""Block name -> function of the results dict giving the block's text."""


def render(name: str, results: Mapping[str, Any]) -> str:
    """The text of block ``name`` for ``results`` (without markers or comment signs)."""
    if name not in RENDERERS:
        raise QuoteMarkerError(f"no renderer for block {name!r}: known are {sorted(RENDERERS)}")
    check_results(results)
    return RENDERERS[name](results)


# ------------------------------------------------------------------ blocks in files
@dataclass(frozen=True)
class _Block:
    name: str
    start: int  # index of the opening marker line
    end: int  # index of the closing marker line


def _marker(path: Path) -> re.Pattern[str]:
    return _MD_MARKER if path.suffix.lower() in _MARKDOWN_SUFFIXES else _HASH_MARKER


def _find_blocks(path: Path, lines: list[str]) -> list[_Block]:
    """The marked blocks of ``lines``; :class:`QuoteMarkerError` on any bad marker."""
    pattern, blocks, open_at, open_name = _marker(path), [], None, ""
    for i, line in enumerate(lines):
        match = pattern.match(line)
        if match is None:
            continue
        closing, name = match.group(1) == "/", match.group(2)
        where = f"{path}, line {i + 1}"
        if not closing and name not in RENDERERS:
            raise QuoteMarkerError(
                f"{where}: unknown block `bench:{name}`: known are {sorted(RENDERERS)}"
            )
        if not closing and open_at is not None:
            raise QuoteMarkerError(
                f"{where}: block `bench:{name}` opens inside `bench:{open_name}` (line "
                f"{open_at + 1}): blocks cannot nest, close `bench:{open_name}` first"
            )
        if closing and name != open_name:
            opened = f"`bench:{open_name}` is open" if open_at is not None else "no block is open"
            raise QuoteMarkerError(f"{where}: `/bench:{name}` closes nothing ({opened})")
        if closing:
            blocks.append(_Block(name, open_at, i))
            open_at, open_name = None, ""
        else:
            open_at, open_name = i, name
    if open_at is not None:
        raise QuoteMarkerError(
            f"{path}, line {open_at + 1}: block `bench:{open_name}` is never closed "
            f"(add its closing marker with /bench:{open_name})"
        )
    return blocks


def _body(path: Path, text: str) -> list[str]:
    """The lines that go between the markers of a block rendering ``text``."""
    lines = [line.rstrip() for line in text.splitlines()]
    if path.suffix.lower() in _MARKDOWN_SUFFIXES:
        return ["", *lines, ""]
    return [f"# {line}" if line else "#" for line in lines]


def _read_lines(path: Path) -> tuple[list[str], bool]:
    if not path.is_file():
        raise DataNotFoundError(f"{path} does not exist: the quoted files are {QUOTED_FILES}")
    text = path.read_text(encoding="utf-8")
    return text.splitlines(), text.endswith("\n")


def block_names(path: str | Path) -> list[str]:
    """Names of the marked blocks in ``path``, in file order."""
    path = Path(path)
    return [b.name for b in _find_blocks(path, _read_lines(path)[0])]


def _rendered(
    path: Path, lines: list[str], results: Mapping[str, Any]
) -> list[tuple[_Block, list[str]]]:
    """Each block of ``lines`` with the body the results give it."""
    blocks = _find_blocks(path, lines)
    texts = {b.name: render(b.name, results) for b in blocks}
    return [(b, _body(path, texts[b.name])) for b in blocks]


def stale_blocks(path: str | Path, results: Mapping[str, Any]) -> list[str]:
    """Names of the blocks in ``path`` whose text differs from what ``results`` give."""
    path = Path(path)
    lines, _ = _read_lines(path)
    stale = [
        b.name for b, body in _rendered(path, lines, results) if lines[b.start + 1 : b.end] != body
    ]
    return list(dict.fromkeys(stale))


def _new_text(path: Path, results: Mapping[str, Any]) -> str | None:
    """The text of ``path`` with every block rewritten from ``results``; None if unchanged."""
    lines, final_newline = _read_lines(path)
    new, last = [], 0
    for block, body in _rendered(path, lines, results):
        new += [*lines[last : block.start + 1], *body]
        last = block.end
    new += lines[last:]
    return None if new == lines else "\n".join(new) + ("\n" if final_newline else "")


def _write(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    log.info("updated the benchmark quotes in %s", path)


def update_file(path: str | Path, results: Mapping[str, Any]) -> bool:
    """Rewrite every block of ``path`` from ``results`` (atomically); whether it changed."""
    path = Path(path)
    new = _new_text(path, results)
    if new is not None:
        _write(path, new)
    return new is not None


def stale_quotes(root: str | Path, results: Mapping[str, Any]) -> dict[str, list[str]]:
    """``QUOTED_FILES`` entry -> its stale blocks, for the files with any."""
    stale = {name: stale_blocks(Path(root) / name, results) for name in QUOTED_FILES}
    return {name: blocks for name, blocks in stale.items() if blocks}


def update_quotes(root: str | Path, results: Mapping[str, Any]) -> list[str]:
    """Update every ``QUOTED_FILES`` entry under ``root``; the ones that changed.

    Every file is read and rendered before any is written: a bad marker in one
    leaves them all as they were.
    """
    planned = {name: _new_text(Path(root) / name, results) for name in QUOTED_FILES}
    changed = [name for name, new in planned.items() if new is not None]
    for name in changed:
        _write(Path(root) / name, planned[name])
    return changed
