"""The masking key (CDC_MASK_KEY or `--mask-key-secret-arn`) and the start-up check of `--mask-columns` against the
source: every declared column must exist and be of a maskable type, because a misspelt column name would otherwise
let its values through unmasked."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence

from . import logs
from .errors import ConfigError
from .masking import FLAG, KEY_ENV, KEY_SECRET_FLAG, MASKABLE_TYPES, Masker, MaskPattern, check_key, parse_mask_columns

ColumnTypes = Callable[[str], list[tuple[str, str, str]]]  # database -> (table, column, data type)
JsonColumns = Callable[[str, str], frozenset[str]]


def load_masker(
    mask_columns: str | None, secret_arn: str | None, environ: Mapping[str, str] | None = None
) -> Masker | None:
    """A Masker when `--mask-columns` names columns; None otherwise. The key comes from the secret when an ARN is
    given, else from CDC_MASK_KEY; a key without columns to mask is a mistake too (one line, exit 2)."""
    environ = os.environ if environ is None else environ
    patterns = parse_mask_columns(mask_columns)
    if not patterns:
        if secret_arn:
            raise ConfigError(f"{KEY_SECRET_FLAG} is set but {FLAG} names no column to mask")
        return None
    key = read_key_secret(secret_arn.strip()) if secret_arn and secret_arn.strip() else _key_from_env(environ)
    logs.redactor().add(key.decode("utf-8", "replace"))
    return Masker(key, patterns)


def _key_from_env(environ: Mapping[str, str]) -> bytes:
    text = environ.get(KEY_ENV, "")
    if not text:
        raise ConfigError(f"{FLAG} needs a key: set {KEY_ENV} or {KEY_SECRET_FLAG}")
    return check_key(text.encode("utf-8"), KEY_ENV)


def read_key_secret(arn: str) -> bytes:
    """The key in a Secrets Manager secret: its SecretString, or the `key` field when that is a JSON object."""
    from .mysql_secret import read_secret_string  # boto3 only when a secret is used

    text = read_secret_string(arn, KEY_SECRET_FLAG, expected="the masking key")
    if text is None:
        raise ConfigError(f"{KEY_SECRET_FLAG}: secret {arn} has no SecretString")
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if isinstance(document, dict):
        key = document.get("key")
        if not isinstance(key, str):
            raise ConfigError(f"{KEY_SECRET_FLAG}: secret {arn} is a JSON object without a string 'key' field")
        text = key
    return check_key(text.encode("utf-8"), f"{KEY_SECRET_FLAG}: secret {arn}")


def check_mask_columns(patterns: Sequence[MaskPattern], column_types: ColumnTypes, json_columns: JsonColumns) -> None:
    """Every pattern matches at least one column of the source, and every matched column can be masked."""
    by_database: dict[str, list[tuple[str, str, str]]] = {}
    for pattern in patterns:
        if pattern.database not in by_database:
            by_database[pattern.database] = column_types(pattern.database)
        matched = [
            (table, column, data_type)
            for table, column, data_type in by_database[pattern.database]
            if pattern.matches(pattern.database, table, column)
        ]
        if not matched:
            raise ConfigError(f"{FLAG}: no column {pattern} on the source (a misspelt name would leave data unmasked)")
        for table, column, data_type in matched:
            is_json = data_type == "json" or column in json_columns(pattern.database, table)
            if is_json or data_type not in MASKABLE_TYPES:
                shown = "json" if is_json else data_type
                raise ConfigError(
                    f"{FLAG}: {pattern.database}.{table}.{column} is {shown}; only string, binary, integer and date"
                    " columns can be masked (exclude the column with --exclude-columns instead)"
                )
