"""Singer messages to stdout in blocks: the SDK's msgspec writer, without a flush per record."""

from __future__ import annotations

import sys
import typing as t
import weakref

from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.singerlib.encoding.base import SingerMessageType

if t.TYPE_CHECKING:
    from singer_sdk.singerlib.encoding.simple import Message


def _write_out(pending: bytearray) -> None:
    if pending:
        sys.stdout.buffer.write(pending)
        pending.clear()
    sys.stdout.flush()


class RecordBufferingWriter(MsgSpecWriter):
    """The SDK's msgspec writer, handing RECORD messages to stdout in blocks.

    The SDK flushes stdout after every message: a system call per record, whatever
    PYTHONUNBUFFERED says. Records still reach the target in order, and every SCHEMA or
    STATE message goes out at once together with all records before it. Records queued
    when a run fails still go out when the process exits.
    """

    BLOCK_SIZE = 1 << 16

    def __init__(self) -> None:
        super().__init__()
        self._pending = bytearray()
        weakref.finalize(self, _write_out, self._pending)

    def write_message(self, message: Message) -> None:
        """Queue a message; write out the queue unless it is a RECORD in a small block."""
        self._pending += self.format_message(message)
        if message.type != SingerMessageType.RECORD or len(self._pending) >= self.BLOCK_SIZE:
            _write_out(self._pending)
