"""``python -m unisst_lib.cli``."""

import sys

from unisst_lib.cli import main

sys.exit(main())
