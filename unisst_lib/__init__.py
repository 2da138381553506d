"""unisst: unsupervised gap filling of cloudy SST sequences (UNISST, Yin et al. 2019)."""

from __future__ import annotations

import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = ["__version__"]
