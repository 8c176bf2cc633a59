"""A private MariaDB server in a directory of its own, for the tests and the demo.

It never touches a server already running on the machine: its own data directory, socket, pid file and a free
loopback port. Binary logging is on in the form the streamer needs (ROW, FULL image, FULL metadata).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pymysql

SERVER_BINARIES = ("mariadbd", "mysqld")
INSTALL_BINARIES = ("mariadb-install-db", "mysql_install_db")
SEARCH_PATH = ("/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin")

BINLOG_OPTIONS = (
    "--log-bin=binlog",
    "--binlog-format=ROW",
    "--binlog-row-image=FULL",
    "--binlog-row-metadata=FULL",
    "--binlog-annotate-row-events=ON",
)


class ServerNotInstalled(RuntimeError):
    """No MariaDB server binary on this machine."""


def find_binary(names: tuple[str, ...]) -> str:
    for name in names:
        found = shutil.which(name, path=os.pathsep.join((os.environ.get("PATH", ""), *SEARCH_PATH)))
        if found:
            return found
    raise ServerNotInstalled(
        f"none of {', '.join(names)} found: install MariaDB (Debian/Ubuntu: apt-get install mariadb-server)"
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class LocalMariaDB:
    """One private server. `start()` initialises the data directory on first use; `stop()` shuts it down."""

    base_dir: Path
    server_id: int = 1
    port: int = 0
    extra_options: tuple[str, ...] = ()
    binlog: bool = True
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def socket_path(self) -> Path:
        return self.base_dir / "mysqld.sock"

    @property
    def log_path(self) -> Path:
        return self.base_dir / "mysqld.err"

    def initialise(self) -> None:
        if (self.data_dir / "mysql").is_dir():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            [
                find_binary(INSTALL_BINARIES),
                "--no-defaults",
                f"--datadir={self.data_dir}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--user=root",
            ],
            capture_output=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"mariadb-install-db failed: {result.stderr.decode(errors='replace')[-2000:]}")

    def start(self, timeout: float = 60.0) -> None:
        self.initialise()
        if not self.port:
            self.port = free_port()
        command = [
            find_binary(SERVER_BINARIES),
            "--no-defaults",
            f"--datadir={self.data_dir}",
            f"--socket={self.socket_path}",
            f"--pid-file={self.base_dir / 'mysqld.pid'}",
            f"--log-error={self.log_path}",
            f"--port={self.port}",
            "--bind-address=127.0.0.1",
            "--skip-name-resolve",
            f"--server-id={self.server_id}",
            "--innodb-buffer-pool-size=64M",
            "--innodb-log-file-size=64M",
            "--max-allowed-packet=256M",
            "--user=root",
            *(BINLOG_OPTIONS if self.binlog else ()),
            *self.extra_options,
        ]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mariadbd exited at start; see {self.log_path}:\n{self._log_tail()}")
            if self._accepting():
                self.root_connection().close()
                return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"mariadbd did not accept connections within {timeout:.0f}s; see {self.log_path}")

    def _accepting(self) -> bool:
        if not self.socket_path.exists():
            return False
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            try:
                probe.connect(str(self.socket_path))
            except OSError:
                return False
        return True

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def stop(self, timeout: float = 30.0) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        """Stop the server the hard way (SIGKILL), as a crash would."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def root_connection(self, **kwargs: Any) -> pymysql.connections.Connection[Any]:
        return pymysql.connect(unix_socket=str(self.socket_path), user="root", autocommit=True, **kwargs)

    def create_cdc_user(
        self,
        user: str = "cdc",
        password: str = "cdc-secret",
        privileges: str = "REPLICATION SLAVE, REPLICATION CLIENT, SELECT",
    ) -> None:
        """The least-privileged replication user the streamer needs (or, for tests, one with less)."""
        with self.root_connection() as conn, conn.cursor() as cur:
            cur.execute(f"CREATE USER IF NOT EXISTS '{user}'@'127.0.0.1' IDENTIFIED BY %s", (password,))
            cur.execute(f"GRANT {privileges} ON *.* TO '{user}'@'127.0.0.1'")

    def url(self, user: str = "cdc", password: str = "cdc-secret") -> str:
        return f"mysql://{user}:{password}@127.0.0.1:{self.port}"
