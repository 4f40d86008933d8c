"""A Python audit hook that records every non-loopback socket connection and every host-name lookup other than
localhost (`attempts`). Hooks cannot be removed: install it only in a child process."""
import sys

LOOPBACK = ("127.", "::1", "localhost", "0.0.0.0")
attempts = []


def _is_local(host) -> bool:
    if isinstance(host, (bytes, bytearray)):
        host = host.decode(errors="replace")
    return not host or (isinstance(host, str) and host.startswith(LOOPBACK))


def _audit(event, args):
    if event == "socket.connect":
        address = args[1]
        if isinstance(address, tuple) and not _is_local(address[0]):
            attempts.append({"event": event, "address": [str(a) for a in address[:2]]})
    elif event == "socket.getaddrinfo" and not _is_local(args[0]):
        attempts.append({"event": event, "host": str(args[0])})


def install() -> None:
    sys.addaudithook(_audit)
