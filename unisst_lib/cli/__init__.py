"""The ``unisst`` command line: one module per group of sub-commands.

Every sub-command calls one library function; errors that unisst raises on
purpose (:class:`unisst_lib.core.errors.UnisstError`) end as a one-line
``error: …`` on stderr with exit code 2.

May import: every stage (the command line sits on top of the library).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from unisst_lib import __version__
from unisst_lib.cli.data_commands import _add_data_commands, _add_download_commands
from unisst_lib.cli.fill_command import _add_fill_command
from unisst_lib.cli.model_commands import _add_evaluate_command, _add_train_command
from unisst_lib.cli.notebook_commands import (
    _add_demo_command,
    _add_kernel_command,
    _add_notebook_commands,
)
from unisst_lib.core.errors import UnisstError
from unisst_lib.core.malloc import tune_allocator

log = logging.getLogger("unisst")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="unisst",
        description="Unsupervised gap filling of cloudy SST sequences (UNISST).",
    )
    parser.add_argument("--version", action="version", version=f"unisst {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    _add_data_commands(sub)
    _add_download_commands(sub)
    _add_train_command(sub)
    _add_evaluate_command(sub)
    _add_demo_command(sub)
    _add_notebook_commands(sub)
    _add_fill_command(sub)
    _add_kernel_command(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``unisst`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:  # papermill announces every notebook's paths at INFO
        logging.getLogger("papermill").setLevel(logging.WARNING)
    # copernicusmarine logs through its own handler: not twice through ours too
    logging.getLogger("copernicusmarine").propagate = False
    tune_allocator()  # PyTorch's CPU buffers reused, not faulted in at every pass
    try:
        return int(args.func(args) or 0)
    except UnisstError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
