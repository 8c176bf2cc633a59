"""`--mask-columns`: a sink wrapper that masks every transaction's events before the real sink sees them, so no
sink (and nothing a sink writes: files, Kinesis records, claim checks, error records) ever holds an unmasked value."""

from __future__ import annotations

from collections.abc import Sequence

from ..event import Event
from ..masking import Masker
from . import Ack, Sink


class MaskingSink:
    def __init__(self, inner: Sink, masker: Masker) -> None:
        self.inner = inner
        self.masker = masker

    def send(self, events: Sequence[Event], ack: Ack) -> None:
        self.inner.send(self.masker.apply(events), ack)

    def flush(self) -> None:
        self.inner.flush()

    def close(self) -> None:
        self.inner.close()


def masking_sink(inner: Sink, masker: Masker) -> Sink:
    return MaskingSink(inner, masker)
