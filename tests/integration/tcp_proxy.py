"""The project's own TCP fault proxy: forwards a local port to the server and, on command, drops every connection,
stalls them (data held, sockets open), half-closes them (the client sees end-of-stream), or refuses new ones; and
re-points new connections at another server (`switch`: a DNS name moved to a promoted replica)."""

from __future__ import annotations

import contextlib
import socket
import threading


class FaultProxy:
    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.refusing = threading.Event()  # new connections are closed at once
        self.flowing = threading.Event()  # cleared: the pipes hold their data (a stalled network)
        self.flowing.set()
        self.connections = 0
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, name="proxy-accept", daemon=True).start()

    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.refusing.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._pairs.append((client, upstream))
                self.connections += 1
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                self.flowing.wait()
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
                end.close()

    def _take_pairs(self) -> list[tuple[socket.socket, socket.socket]]:
        with self._lock:
            pairs, self._pairs = self._pairs, []
        return pairs

    def drop(self) -> None:
        """Reset every open connection, both ways."""
        for pair in self._take_pairs():
            for end in pair:
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def switch(self, target: tuple[str, int]) -> None:
        """New connections go to `target` from now on; the open ones (to the old server) are reset."""
        self.target = target
        self.drop()

    def half_close(self) -> None:
        """The client reads end-of-stream; its writes still reach nobody."""
        for client, upstream in self._take_pairs():
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_WR)
            with contextlib.suppress(OSError):
                upstream.shutdown(socket.SHUT_RD)

    def close(self) -> None:
        self.flowing.set()
        self.refusing.set()
        self.drop()
        self.listener.close()
