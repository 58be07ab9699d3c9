"""``python -m banking_cdc.reconcile``: compare gold with the source database."""

from __future__ import annotations

import sys

from banking_cdc.reconcile.cli import main

sys.exit(main())
