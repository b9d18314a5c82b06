"""The Singer SDK's standard tap tests, offline against the sandbox, all streams selected."""

from __future__ import annotations

import atexit

from singer_sdk.testing import SuiteConfig, get_tap_test_class

from tap_twitter_metrics.catalogue import STREAM_NAMES
from tap_twitter_metrics.tap import TapTwitterMetrics
from tap_twitter_metrics_sandbox import CREDENTIALS, Sandbox, SandboxOptions
from tests.tapruns import catalog

SANDBOX = Sandbox(SandboxOptions(seed=11, posts=120, partner_posts=20))
SANDBOX.__enter__()
atexit.register(SANDBOX.__exit__, None, None, None)

CONFIG = {
    **SANDBOX.config_for("oauth1"),
    # api_usage reads X's usage endpoint, which takes only the app's bearer token.
    "bearer_token": CREDENTIALS["bearer_token"],
    "user_ids": [SANDBOX.world.main_user_id, SANDBOX.world.partner_user_id],
    "tweet_ids": [SANDBOX.world.timeline(SANDBOX.world.partner_user_id)[0].id],
}

TestTapTwitterMetrics = get_tap_test_class(
    tap_class=TapTwitterMetrics,
    config=CONFIG,
    catalog=catalog(STREAM_NAMES),
    suite_config=SuiteConfig(max_records_limit=None),
)
