"""A private MariaDB server in a directory of its own, for the tests and the demo.

It never touches a server already running on the machine: its own data directory, temporary directory, socket,
pid file and a free loopback port. Binary logging is on in the form the streamer needs (ROW, FULL image, FULL metadata).

For the fault tests: restart it (cleanly or as a crash), make it a GTID replica of another one and promote it.
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
    template: Path | None = None  # an initialised data directory to copy instead of running mariadb-install-db
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def tmp_dir(self) -> Path:
        """Not /tmp: temporary table files are named after the process id, which other servers (in other PID
        namespaces sharing /tmp, e.g. other containers) may have too; one removing the other's file fails both."""
        return self.base_dir / "tmp"

    @property
    def socket_path(self) -> Path:
        return self.base_dir / "mysqld.sock"

    @property
    def log_path(self) -> Path:
        return self.base_dir / "mysqld.err"

    def initialise(self) -> None:
        if (self.data_dir / "mysql").is_dir():
            return
        if self.template is not None:
            shutil.copytree(self.template, self.data_dir)
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            [
                find_binary(INSTALL_BINARIES),
                "--no-defaults",
                f"--datadir={self.data_dir}",
                f"--tmpdir={self.tmp_dir}",
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
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        command = [
            find_binary(SERVER_BINARIES),
            "--no-defaults",
            f"--datadir={self.data_dir}",
            f"--tmpdir={self.tmp_dir}",
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

    def restart(self, *, crash: bool = False) -> None:
        """Stop (SIGTERM, or SIGKILL with `crash`) and start again on the same port and data directory."""
        if crash:
            self.kill()
        else:
            self.stop()
        self.start()

    def execute(self, sql: str, args: tuple[Any, ...] | None = None) -> list[tuple[Any, ...]]:
        """One statement as root; its rows."""
        with self.root_connection() as conn, conn.cursor() as cur:
            cur.execute(sql, args)
            return list(cur.fetchall())

    def gtid_binlog_pos(self) -> str:
        return str(self.execute("SELECT @@gtid_binlog_pos")[0][0])

    def replicate_from(self, primary: LocalMariaDB, user: str = "repl", password: str = "repl-secret") -> None:
        """Make this server a GTID replica of `primary` (MASTER_USE_GTID=slave_pos) and start it. Both should be
        fresh, and this one needs a server_id of its own (and `--log-slave-updates` to serve the changes on)."""
        primary.execute(f"CREATE USER IF NOT EXISTS '{user}'@'127.0.0.1' IDENTIFIED BY %s", (password,))
        primary.execute(f"GRANT REPLICATION SLAVE ON *.* TO '{user}'@'127.0.0.1'")
        self.execute(
            f"CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={primary.port}, MASTER_USER=%s, "
            "MASTER_PASSWORD=%s, MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1",
            (user, password),
        )
        self.execute("START SLAVE")

    def wait_for_gtid(self, gtid: str, timeout: float = 60.0) -> None:
        """Wait until this replica has applied `gtid` (a primary's @@gtid_binlog_pos)."""
        (result,) = self.execute("SELECT MASTER_GTID_WAIT(%s, %s)", (gtid, timeout))[0]
        if result != 0:
            status = self.execute("SHOW SLAVE STATUS")
            raise RuntimeError(f"replica did not reach {gtid} within {timeout:.0f}s: {status}")

    def promote(self) -> None:
        """Turn a replica into a primary: stop replicating, forget the old primary, accept writes."""
        self.execute("STOP SLAVE")
        self.execute("RESET SLAVE ALL")
        self.execute("SET GLOBAL read_only = OFF")

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
