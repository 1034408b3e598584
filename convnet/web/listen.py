"""``convnet serve``'s socket: bound before anything is printed, then handed to uvicorn.

Binding first is what makes a port in use one clear line (``ConvnetError``, exit 1) instead of
"serving on ..." followed by uvicorn's own log and exit code 3, and it leaves no window in
which another program could take the port between a check and the bind.
"""

from __future__ import annotations

import errno
import socket

from ..errors import ConvnetError

SERVE_THREADS = 1  # torch's threads per forward pass while serving: one image is too small to
#   split (ResNet-20's 69 layers: 26 ms on 1 thread, 720 ms on 2 with other work running on a
#   2-core machine, median of 20); requests run side by side instead (guard.Busy's slots)
MAX_CONNECTIONS = 32  # open connections at once (uvicorn answers 503 beyond): each may hold a
#   request body of up to 6.7 MB while it waits for a heavy slot (guard.Busy); a browser opens 6


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to (host, port), as uvicorn binds one (IPv6 when host has a ':').

    Raises:
        ConvnetError: the port is in use, needs privileges, or the address is not this machine's.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: TIME_WAIT is fine
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as e:
        sock.close()
        where = f"{host}:{port}"
        if e.errno == errno.EADDRINUSE:
            raise ConvnetError(f"port {port} is in use on {host}: stop the program using it "
                               "or choose another --port") from None
        if e.errno == errno.EACCES:
            raise ConvnetError(f"cannot listen on {where}: permission denied (ports below "
                               "1024 need privileges; choose another --port)") from None
        reason = e.strerror or str(e)
        raise ConvnetError(f"cannot listen on {where}: {reason} (is --host an address of "
                           "this machine?)") from None
    return sock


def run(app, sock: socket.socket) -> None:
    """Serve ``app`` on the bound ``sock`` until Ctrl-C, one torch thread per request."""
    import torch
    import uvicorn  # imported here: the rest of the package does not need the server

    torch.set_num_threads(SERVE_THREADS)

    config = uvicorn.Config(app, log_level="warning", limit_concurrency=MAX_CONNECTIONS)
    uvicorn.Server(config).run(sockets=[sock])
