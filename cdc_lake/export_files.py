"""The files of an export: a local directory or `s3://bucket/prefix/<export_id>`, read through pyarrow's
filesystems (S3 opened as `storage.LakeStore` opens it). I/O only; `export_reader` parses what is read here."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import fs

from cdc_streamer.errors import ConfigError, RuntimeFailure

from .storage import LakeStore

FLAG = "--export (CDC_EXPORT)"


@dataclass(frozen=True)
class ExportFiles:
    filesystem: fs.FileSystem
    root: str  # local absolute path, or bucket/prefix
    display: str  # as the user gave it

    @classmethod
    def open(cls, target: str, *, endpoint_url: str | None = None, region: str | None = None) -> ExportFiles:
        if not target:
            raise ConfigError(f"{FLAG} is required: the export directory or s3://bucket/prefix/<export_id>")
        if target.startswith("s3://"):
            store = LakeStore.open(target, endpoint_url=endpoint_url, region=region)
            found = cls(store.filesystem, store.root, target)
        else:
            found = cls(fs.LocalFileSystem(), str(Path(target).resolve()), target)
        try:
            info = found.filesystem.get_file_info(found.root)
        except OSError as error:
            raise RuntimeFailure(f"{FLAG}: cannot read {target}: {' '.join(str(error).split())}") from None
        if info.type != fs.FileType.Directory:
            raise ConfigError(f"{FLAG}: {target} does not exist (or is not a directory): give the export's directory")
        return found

    def path(self, relative: str) -> str:
        return f"{self.root}/{relative}" if relative else self.root

    def names(self, relative: str = "") -> list[str]:
        """The names of the files directly in `relative`."""
        selector = fs.FileSelector(self.path(relative), allow_not_found=True)
        return sorted(
            info.base_name for info in self.filesystem.get_file_info(selector) if info.type == fs.FileType.File
        )

    def files(self, relative: str) -> list[str]:
        """Every file under the directory `relative`, as paths relative to it; [] when it does not exist."""
        base = self.path(relative)
        selector = fs.FileSelector(base, recursive=True, allow_not_found=True)
        found = []
        for info in self.filesystem.get_file_info(selector):
            if info.type == fs.FileType.File:
                found.append(info.path[len(base) :].lstrip("/"))
            elif info.type == fs.FileType.Directory:
                found.append(info.path[len(base) :].strip("/") + "/")
        return sorted(found)

    def read_json(self, relative: str) -> Any:
        try:
            with self.filesystem.open_input_stream(self.path(relative)) as stream:
                return json.loads(stream.read())
        except (ValueError, UnicodeDecodeError) as error:
            raise ConfigError(f"{self.display}: {relative} is not valid JSON: {error}") from None

    def parquet_schema(self, relative: str) -> pa.Schema:
        try:
            with self.filesystem.open_input_file(self.path(relative)) as handle:
                return pq.ParquetFile(handle).schema_arrow
        except (OSError, pa.ArrowInvalid) as error:
            raise ConfigError(f"{relative}: not a readable Parquet file: {' '.join(str(error).split())}") from None

    def batches(self, relative: str, columns: Sequence[str], rows: int) -> Iterator[pa.RecordBatch]:
        """The file's rows, `rows` at a time (one row group at most in memory)."""
        with self.filesystem.open_input_file(self.path(relative)) as handle:
            yield from pq.ParquetFile(handle).iter_batches(batch_size=rows, columns=list(columns))
