"""Run the sandbox with `python -m tap_twitter_metrics_sandbox`."""

from __future__ import annotations

import sys

from tap_twitter_metrics_sandbox.cli import main

sys.exit(main())
