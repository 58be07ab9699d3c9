"""``python -m banking_cdc.generator``: the workload generator's command line."""

from __future__ import annotations

import sys

from banking_cdc.generator.cli import main

sys.exit(main())
