"""The lake's storage: a local directory or `s3://bucket/prefix`, through pyarrow's filesystems.

Writes are atomic for readers: locally a temp name in the same directory, fsync'd, then renamed; on S3 an object
only becomes visible when its upload completes.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import fs

from cdc_streamer.errors import ConfigError


@dataclass(frozen=True)
class LakeStore:
    filesystem: fs.FileSystem
    root: str  # local absolute path or `bucket/prefix`
    local: bool

    @classmethod
    def open(cls, target: str, *, endpoint_url: str | None = None, region: str | None = None) -> LakeStore:
        if target.startswith("s3://"):
            root = target.removeprefix("s3://").rstrip("/")
            if not root:
                raise ConfigError("--lake-dir (CDC_LAKE_DIR): s3:// needs a bucket, e.g. s3://my-lake/cdc")
            options: dict[str, object] = {}
            if endpoint_url:
                scheme, _, address = endpoint_url.partition("://")
                options.update(endpoint_override=address or scheme, scheme=scheme if address else "https")
            if region:
                options["region"] = region
            return cls(fs.S3FileSystem(**options), root, local=False)
        path = Path(target).resolve()
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ConfigError(f"--lake-dir (CDC_LAKE_DIR): cannot create {path}: {error.strerror}") from None
        if not os.access(path, os.W_OK):
            raise ConfigError(f"--lake-dir (CDC_LAKE_DIR): {path} is not writable")
        return cls(fs.LocalFileSystem(), str(path), local=True)

    def path(self, relative: str) -> str:
        return f"{self.root}/{relative}"

    def write_parquet(self, relative: str, table: pa.Table) -> None:
        self._atomic(relative, lambda sink: pq.write_table(table, sink, compression="snappy"))

    def write_bytes(self, relative: str, data: bytes) -> None:
        self._atomic(relative, lambda sink: sink.write(data))

    def read_bytes(self, relative: str) -> bytes | None:
        try:
            with self.filesystem.open_input_stream(self.path(relative)) as stream:
                data: bytes = stream.read()
                return data
        except FileNotFoundError:
            return None
        except OSError as error:
            if "NoSuchKey" in str(error) or "does not exist" in str(error):
                return None
            raise

    def _atomic(self, relative: str, write: Callable[[Any], object]) -> None:
        final = self.path(relative)
        directory = final.rsplit("/", 1)[0]
        self.filesystem.create_dir(directory, recursive=True)
        if not self.local:
            with self.filesystem.open_output_stream(final) as sink:
                write(sink)
            return
        temp = f"{directory}/.{uuid.uuid4().hex}.tmp"
        try:
            with open(temp, "wb") as handle:
                write(handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, final)
            dir_fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
