"""A local S3 (and AWS Secrets Manager) emulator, and the AWS environment of a CI runner.

The emulator is moto's server on 127.0.0.1, spoken to over HTTP with boto3 exactly as AWS
is. A runner's environment points every AWS client at it and at nothing else: dummy keys,
the endpoint given explicitly, no instance-metadata lookups, no shared AWS config files, and
every other HTTP(S) connection sent to a closed port on 127.0.0.1, so that a request meant
for real AWS fails instead of leaving the machine.
"""

from __future__ import annotations

import json
import os
import socket
import typing as t
from contextlib import contextmanager
from dataclasses import dataclass

import boto3  # type: ignore[import-untyped]
from moto.server import ThreadedMotoServer

if t.TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

REGION = "us-east-1"
DUMMY_KEYS = {"AWS_ACCESS_KEY_ID": "emulator-key-id", "AWS_SECRET_ACCESS_KEY": "emulator-secret"}
LOCAL_HOSTS = "127.0.0.1,localhost"


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (connections to it are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class S3Emulator:
    """The emulator's endpoint, and boto3 clients for it."""

    endpoint: str

    def client(self, service: str) -> t.Any:
        """A boto3 client of `service` that talks only to the emulator."""
        return boto3.session.Session().client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=DUMMY_KEYS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=DUMMY_KEYS["AWS_SECRET_ACCESS_KEY"],
        )

    def create_bucket(self, name: str) -> str:
        """Create an empty bucket; return its name."""
        self.client("s3").create_bucket(Bucket=name)
        return name

    def objects(self, bucket: str) -> dict[str, bytes]:
        """Every object of `bucket`, by key."""
        s3 = self.client("s3")
        listing = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
        return {
            item["Key"]: s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            for item in listing
        }

    def aws_variables(self) -> dict[str, str]:
        """The workflow's AWS variables (keys, region), plus boto3's S3 endpoint variable."""
        return {**DUMMY_KEYS, "AWS_DEFAULT_REGION": REGION, "AWS_ENDPOINT_URL_S3": self.endpoint}

    def meltano_settings(self) -> dict[str, str]:
        """Keys and endpoint in Meltano's own state backend settings instead."""
        return {
            "MELTANO_STATE_BACKEND_S3_AWS_ACCESS_KEY_ID": DUMMY_KEYS["AWS_ACCESS_KEY_ID"],
            "MELTANO_STATE_BACKEND_S3_AWS_SECRET_ACCESS_KEY": DUMMY_KEYS["AWS_SECRET_ACCESS_KEY"],
            "MELTANO_STATE_BACKEND_S3_ENDPOINT_URL": self.endpoint,
            "AWS_DEFAULT_REGION": REGION,
        }


def isolated(aws: dict[str, str]) -> dict[str, str]:
    """`aws` with every other way to AWS shut: no metadata service, config files or network.

    Any HTTP(S) connection to a host other than 127.0.0.1 goes to a closed local port, so a
    request meant for real AWS fails instead of leaving the machine.
    """
    guard = f"http://127.0.0.1:{closed_port()}"
    return {
        **aws,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        **dict.fromkeys(("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"), guard),
        "NO_PROXY": LOCAL_HOSTS,
        "no_proxy": LOCAL_HOSTS,
    }


@contextmanager
def s3_emulator() -> Iterator[S3Emulator]:
    """Serve the emulator on a free port of 127.0.0.1 until the block ends."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield S3Emulator(endpoint=f"http://{host}:{port}")
    finally:
        server.stop()


@dataclass(frozen=True)
class SecretStoreTokenFile:
    """The README's CI home of the OAuth 2.0 token file: a secret in AWS Secrets Manager.

    Restored into the runner before the run, written back after it, even when it failed.
    """

    emulator: S3Emulator
    secret_id: str

    def restore(self, token_file: Path) -> bool:
        """Write the stored token file to `token_file` (mode 0600); False when none is stored."""
        secrets = self.emulator.client("secretsmanager")
        try:
            stored = secrets.get_secret_value(SecretId=self.secret_id)["SecretString"]
        except secrets.exceptions.ResourceNotFoundException:
            return False
        token_file.parent.mkdir(parents=True, exist_ok=True)
        token_file.touch(mode=0o600)
        token_file.write_text(stored)
        return True

    def save(self, token_file: Path) -> bool:
        """Store the runner's token file; False when the run left none."""
        if not token_file.exists():
            return False
        secrets = self.emulator.client("secretsmanager")
        content = token_file.read_text()
        try:
            secrets.put_secret_value(SecretId=self.secret_id, SecretString=content)
        except secrets.exceptions.ResourceNotFoundException:
            secrets.create_secret(Name=self.secret_id, SecretString=content)
        return True

    def stored(self) -> dict[str, t.Any]:
        """The token file the store holds now."""
        value = self.emulator.client("secretsmanager").get_secret_value(SecretId=self.secret_id)
        document: dict[str, t.Any] = json.loads(value["SecretString"])
        return document
