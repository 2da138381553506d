"""Regenerate the benchmark numbers the docs quote, from benchmarks/results.json.

    .venv/bin/python benchmarks/quote.py            # rewrite the quoted blocks in place
    .venv/bin/python benchmarks/quote.py --check    # list stale blocks; exit 1 if any

The README's comparison table and training paragraph, the ``fast`` config's comment
(``configs/fast.yaml`` and ``unisst_lib/configs/fast.yaml``) and the checkpoint notes
(``unisst_lib/checkpoints/README.md``) hold their numbers in marked blocks
(``<!-- bench:NAME -->`` in Markdown, ``# bench:NAME`` in YAML) that this script
rewrites with :mod:`unisst_lib.benchmark.quotes`. Run it after
``benchmarks/accuracy.py``; ``tests/test_quotes.py`` fails while a block is stale.
Exit codes: 0 current (or updated), 1 stale blocks (``--check``), 2 bad input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from unisst_lib.benchmark.quotes import load_results, stale_quotes, update_quotes
from unisst_lib.core.errors import UnisstError

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None, root: Path = ROOT) -> int:
    """Update (or ``--check``) the quoted files under ``root``; the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--results",
        type=Path,
        default=root / "benchmarks" / "results.json",
        help="results of benchmarks/accuracy.py (default: benchmarks/results.json)",
    )
    parser.add_argument(
        "--check", action="store_true", help="change nothing; list stale blocks, exit 1 if any"
    )
    args = parser.parse_args(argv)
    try:
        results = load_results(args.results)
        if args.check:
            stale = stale_quotes(root, results)
            for name, blocks in stale.items():
                print(f"stale: {name}: {', '.join(blocks)}")
            if stale:
                print("run `python benchmarks/quote.py` to regenerate them")
                return 1
            print(f"the quoted numbers are current with {args.results}")
            return 0
        changed = update_quotes(root, results)
    except UnisstError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for name in changed:
        print(f"updated {name}")
    if not changed:
        print("nothing to update: the quoted numbers are current")
    return 0


if __name__ == "__main__":
    sys.exit(main())
