"""cdc_streamer: read a MySQL / Aurora MySQL / MariaDB binary log into Maxwell-compatible change events."""

__version__ = "0.1.0"
