"""`python -m cdc_streamer` is `cdc-streamer`."""

from .cli import entry_point

entry_point()
