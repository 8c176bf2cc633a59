"""Where a snapshot's export goes: a local directory or `s3://bucket/prefix`, through pyarrow's filesystems.

Every file appears whole or not at all. A Parquet part is written to a temporary file (locally: a hidden name in
its final directory; for S3: a local temp file) and only then renamed into place (fsync'd file and directory) or
uploaded, so an object exists only once complete. The JSON documents go the same way, and last.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import fs

from .errors import ConfigError
from .snapshot_layout import POSITION_FILE, RecordedPosition, export_info_name, parse_position_document

COMPRESSION = "snappy"


@dataclass(frozen=True)
class ExportTarget:
    filesystem: fs.FileSystem
    root: str  # local absolute path, or `bucket/prefix`
    local: bool

    @classmethod
    def open(cls, out: str | None, *, endpoint_url: str | None = None, region: str | None = None) -> ExportTarget:
        if not out:
            raise ConfigError("--out (CDC_OUT) is required: a directory or s3://bucket/prefix")
        if out.startswith("s3://"):
            root = out.removeprefix("s3://").strip("/")
            if not root:
                raise ConfigError("--out (CDC_OUT): s3:// needs a bucket, e.g. s3://my-lake/exports")
            return cls(s3_filesystem(endpoint_url, region), root, local=False)
        path = Path(out).resolve()
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ConfigError(f"--out (CDC_OUT): cannot create {path}: {error.strerror}") from None
        if not os.access(path, os.W_OK):
            raise ConfigError(f"--out (CDC_OUT): {path} is not writable")
        return cls(fs.LocalFileSystem(), str(path), local=True)

    def path(self, relative: str) -> str:
        return f"{self.root}/{relative}"

    def display(self, relative: str) -> str:
        """How to name a path to the user (and to `run --from-snapshot`)."""
        return self.path(relative) if self.local else f"s3://{self.path(relative)}"

    def entries(self, relative: str) -> int:
        """How many files and directories are directly under `relative` (0 when it does not exist)."""
        selector = fs.FileSelector(self.path(relative), allow_not_found=True, recursive=False)
        try:
            return len(self.filesystem.get_file_info(selector))
        except NotADirectoryError:
            return 1
        except OSError as error:
            if self.local:
                raise ConfigError(f"--out (CDC_OUT): cannot read {self.display(relative)}: {error}") from None
            raise ConfigError(
                f"--out (CDC_OUT): cannot list {self.display(relative)}: {error} "
                "(check the bucket, the credentials, --region and --endpoint-url)"
            ) from None

    def write_bytes(self, relative: str, data: bytes) -> None:
        final = self.path(relative)
        directory = final.rsplit("/", 1)[0]
        if not self.local:
            with self.filesystem.open_output_stream(final) as sink:
                sink.write(data)
            return
        os.makedirs(directory, exist_ok=True)
        temp = f"{directory}/.{os.path.basename(final)}.tmp"
        try:
            with open(temp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            _publish(temp, final)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise

    def part_writer(self, relative: str, schema: pa.Schema) -> PartWriter:
        return PartWriter(self, relative, schema)

    def remove(self, relative: str) -> None:
        """Best effort: delete everything under `relative`."""
        if self.local:
            shutil.rmtree(self.path(relative), ignore_errors=True)
            return
        with suppress(OSError):
            self.filesystem.delete_dir(self.path(relative))


class PartWriter:
    """One Parquet part: row groups are appended to a temporary file; `commit` publishes it, `abort` drops it."""

    def __init__(self, target: ExportTarget, relative: str, schema: pa.Schema) -> None:
        self.target = target
        self.relative = relative
        self.final = target.path(relative)
        if target.local:
            directory, name = self.final.rsplit("/", 1)
            os.makedirs(directory, exist_ok=True)
            self.temp = f"{directory}/.{name}.tmp"
        else:
            handle, self.temp = tempfile.mkstemp(prefix="cdc-snapshot-", suffix=".parquet")
            os.close(handle)
        self.rows = 0
        self._writer: pq.ParquetWriter | None = pq.ParquetWriter(self.temp, schema, compression=COMPRESSION)

    def write(self, table: pa.Table) -> None:
        assert self._writer is not None
        self._writer.write_table(table, row_group_size=max(table.num_rows, 1))
        self.rows += table.num_rows

    def commit(self) -> int:
        """Publish the part; returns its size in bytes."""
        assert self._writer is not None
        self._writer.close()
        self._writer = None
        size = os.path.getsize(self.temp)
        try:
            if self.target.local:
                with open(self.temp, "rb") as handle:
                    os.fsync(handle.fileno())
                _publish(self.temp, self.final)
            else:
                fs.copy_files(
                    self.temp,
                    self.final,
                    source_filesystem=fs.LocalFileSystem(),
                    destination_filesystem=self.target.filesystem,
                )
        finally:
            Path(self.temp).unlink(missing_ok=True)
        return size

    def abort(self) -> None:
        if self._writer is not None:
            with suppress(Exception):
                self._writer.close()
            self._writer = None
        Path(self.temp).unlink(missing_ok=True)


def s3_filesystem(endpoint_url: str | None, region: str | None) -> fs.S3FileSystem:
    """S3 through the standard credential chain; `endpoint_url` for a VPC endpoint or a local stand-in."""
    options: dict[str, object] = {}
    if endpoint_url:
        scheme, _, address = endpoint_url.partition("://")
        options.update(endpoint_override=address or scheme, scheme=scheme if address else "https")
    if region:
        options["region"] = region
    return fs.S3FileSystem(**options)


def read_recorded_position(
    location: str, *, endpoint_url: str | None = None, region: str | None = None
) -> RecordedPosition:
    """`run --from-snapshot`: the position a complete snapshot recorded. `location` is the export directory
    (`<out>/<export_id>`, local or s3://) or its cdc_position.json."""
    flag = "--from-snapshot (CDC_FROM_SNAPSHOT)"
    path = location if location.endswith(".json") else f"{location.rstrip('/')}/{POSITION_FILE}"
    if path.startswith("s3://"):
        filesystem: fs.FileSystem = s3_filesystem(endpoint_url, region)
        key = path.removeprefix("s3://")
    else:
        filesystem, key = fs.LocalFileSystem(), str(Path(path).resolve())
    directory = key.rsplit("/", 1)[0]
    try:
        with filesystem.open_input_stream(key) as stream:
            recorded = parse_position_document(stream.read(), path, flag)
        info = f"{directory}/{export_info_name(recorded.export_id or '')}"
        complete = recorded.export_id is not None and filesystem.get_file_info(info).type == fs.FileType.File
    except OSError as error:
        raise ConfigError(
            f"{flag}: cannot read {path} ({error}): give the export directory <out>/<export_id> "
            "or its cdc_position.json"
        ) from None
    if not complete:
        raise ConfigError(f"{flag}: the snapshot at {location} is incomplete (no export_info): take a new one")
    return recorded


def _publish(temp: str, final: str) -> None:
    """Rename into place, then fsync the directory so the new name survives a crash."""
    os.replace(temp, final)
    dir_fd = os.open(os.path.dirname(final), os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
