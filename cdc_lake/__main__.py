"""`python -m cdc_lake` is `cdc-lake`."""

from .cli import entry_point

entry_point()
