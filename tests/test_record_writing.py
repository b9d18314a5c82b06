"""Writing RECORD messages without the SDK's per-record conformance changes no record."""

from __future__ import annotations

import copy
import json
import logging
import subprocess
import typing as t

import pytest
import requests
from requests_oauthlib import OAuth1
from singer_sdk.helpers._typing import conform_record_data_types
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.singerlib import RecordMessage, StateMessage

from tap_twitter_metrics.catalogue import load_schema
from tap_twitter_metrics.records import observed_now, parse_page, parse_user_page
from tap_twitter_metrics.selection import Selection
from tap_twitter_metrics.writer import RecordBufferingWriter
from tap_twitter_metrics_sandbox import CREDENTIALS, Sandbox, SandboxOptions
from tests.tapruns import CORE_STREAMS, PUBLIC_STREAMS, TAP, catalog

if t.TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(SandboxOptions(seed=7, posts=240, lookup_posts=300)) as sb:
        yield sb


def parsed_records(sb: Sandbox) -> Iterator[tuple[str, dict[str, t.Any]]]:
    """Every record the parser makes from the responses a full sync of the sandbox reads."""
    session = requests.Session()
    session.auth = OAuth1(
        CREDENTIALS["consumer_key"],
        CREDENTIALS["consumer_secret"],
        CREDENTIALS["access_token"],
        CREDENTIALS["access_token_secret"],
    )
    selection = Selection(frozenset(CORE_STREAMS))
    world = sb.world
    body = session.get(f"{sb.url}/2/users/me", params={"user.fields": "created_at,public_metrics"})
    page = parse_user_page(body.json(), observed_now())
    users, _ = page.users, page.problems
    yield from (("users", user) for user in users)
    others = [post.id for post in world.posts if post.author_id != world.main_user_id]
    reads = [
        (f"/2/users/{world.main_user_id}/tweets", {"max_results": "100"}, frozenset[str]()),
        (f"/2/users/{world.main_user_id}/tweets", {"max_results": "100"}, None),
        ("/2/tweets", {"ids": ",".join(others[:100])}, frozenset[str]()),
    ]
    for path, params, families in reads:
        asked = selection.private_families if families is None else families
        query = {**params, **selection.params(asked, authors=path == "/2/tweets")}
        page = parse_page(session.get(sb.url + path, params=query).json(), observed_now())
        yield from (("users", user) for user in page.users)
        yield from (("tweets", tweet) for tweet in page.tweets)
        yield from (("media", media) for media in page.media)
        for stream, records in page.metrics.items():
            yield from ((stream, record) for record in records)


def test_conformance_would_leave_every_parsed_record_as_it_is(sandbox: Sandbox) -> None:
    logger = logging.getLogger("conformance")
    seen: set[str] = set()
    for stream, record in parsed_records(sandbox):
        conformed = conform_record_data_types(
            stream_name=stream,
            record=copy.deepcopy(record),
            schema=load_schema(stream),
            level=TypeConformanceLevel.RECURSIVE,
            logger=logger,
        )
        assert conformed == record, stream
        assert json.dumps(conformed) == json.dumps(record), stream
        seen.add(stream)
    assert seen == set(CORE_STREAMS)


def test_a_property_deselected_in_the_catalog_is_left_out(sandbox: Sandbox, tmp_path: Path) -> None:
    chosen = catalog(PUBLIC_STREAMS)
    for entry in chosen["streams"]:
        if entry["tap_stream_id"] == "tweets":
            entry["metadata"].append(
                {"breadcrumb": ["properties", "entities"], "metadata": {"selected": False}}
            )
    config_file = tmp_path / "config.json"
    config_file.write_text(
        json.dumps({**sandbox.config_for("bearer"), "user_ids": [sandbox.world.main_user_id]})
    )
    catalog_file = tmp_path / "catalog.json"
    catalog_file.write_text(json.dumps(chosen))

    result = subprocess.run(
        [*TAP, "--config", str(config_file), "--catalog", str(catalog_file)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    messages = [json.loads(line) for line in result.stdout.splitlines()]
    tweets = [m["record"] for m in messages if m["type"] == "RECORD" and m["stream"] == "tweets"]
    assert tweets
    assert all("entities" not in tweet and "text" in tweet for tweet in tweets)


def test_records_reach_stdout_in_blocks_and_before_the_next_state(
    capsysbinary: pytest.CaptureFixture[bytes],
) -> None:
    writer = RecordBufferingWriter()
    writer.write_message(RecordMessage(stream="tweets", record={"id": "1"}))
    assert capsysbinary.readouterr().out == b""

    writer.write_message(StateMessage(value={"bookmarks": {}}))
    lines = capsysbinary.readouterr().out.splitlines()
    assert [json.loads(line)["type"] for line in lines] == ["RECORD", "STATE"]

    big = {"id": "2", "text": "x" * 1000}
    for _ in range(RecordBufferingWriter.BLOCK_SIZE // 1000 + 1):
        writer.write_message(RecordMessage(stream="tweets", record=big))
    assert capsysbinary.readouterr().out
