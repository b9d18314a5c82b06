"""Run the tap with `python -m tap_twitter_metrics`."""

from __future__ import annotations

from tap_twitter_metrics.tap import main

main()
