"""The streamer's exception tree: what is retried and what ends the process, with which exit code.

    CdcError                      one-line message, exit code
     ├── ConfigError              2  usage or configuration is wrong: a flag, a URL, a path, a filter
     │    └── CredentialsRejected     the server refused the user name or password (a rotated secret is re-read)
     ├── SourceUnusable           3  the server cannot be streamed as configured (binlog off, grants, purged file)
     ├── RuntimeFailure           1  something failed while running (a sink gave up, too many reconnects)
     └── TransientError           -  retried with bounded backoff and jitter; escalates to RuntimeFailure
          └── ConnectionLost         the replication connection dropped or stalled

Only `cli` turns these into exit codes; everything else raises.
"""

from __future__ import annotations


class CdcError(Exception):
    """Base of every error the streamer reports to the user in one line."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(CdcError):
    exit_code = 2


class CredentialsRejected(ConfigError):
    """Access denied for the user (MySQL error 1045): a wrong password, or one rotated since it was read."""


class SourceUnusable(CdcError):
    exit_code = 3


class RuntimeFailure(CdcError):
    exit_code = 1


class TransientError(CdcError):
    exit_code = 1


class ConnectionLost(TransientError):
    """The replication stream broke; the reader resumes from the last delivered transaction."""
