"""Tools for the server tests: raw HTTP over a socket (what a hostile client sends), and the peak resident memory
of this process while something runs."""
import re
import socket
import threading
import time


def raw_http(port: int, data: bytes, timeout: float = 10.0, half_close: bool = True) -> bytes:
    """Send `data` as is on one connection, then read until the server closes it (or `timeout`)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        received = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            received += chunk
        return received


def statuses(received: bytes):
    """HTTP status codes of the responses in a byte stream, in order."""
    return [int(code) for code in re.findall(rb"HTTP/1\.[01] (\d{3}) ", received)]


def request(method: str, path: str, body: bytes = b"", **headers) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    headers = {k.replace("_", "-"): v for k, v in headers.items()}
    if body or method == "POST":
        headers.setdefault("Content-Length", str(len(body)))
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def closed_by_server(s: socket.socket, timeout: float) -> bool:
    """Whether the server closes `s` within `timeout` seconds (whatever it sends before)."""
    s.settimeout(timeout)
    try:
        while s.recv(65536):
            pass
    except ConnectionResetError:
        pass
    except socket.timeout:
        return False
    return True


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


class PeakMemory:
    """`with PeakMemory() as peak: ...`, then `peak.growth`: the highest resident size seen (sampled every 2 ms)
    above the size at entry, in bytes."""

    def __enter__(self):
        self.start = self.peak = rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, rss_bytes())

    def __exit__(self, *_):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())
        self.growth = self.peak - self.start
