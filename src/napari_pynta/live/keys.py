"""CURVE keys for serving the live pipeline over tcp: who may watch, and encryption on the wire.

A key directory made by :func:`make_keys` (or ``pynta keys DIR``) holds::

    server.key, server.key_secret    the pipeline's key pair (the secret stays on the instrument)
    client.key, client.key_secret    a viewer's key pair (copy both to the viewing machine)
    authorized/client.key            public keys of the viewers allowed to connect

Another viewer is allowed by making its own pair (``pynta keys OTHER``) and copying its
``client.key`` (public) into ``authorized/`` under any name ending in ``.key``.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
from pathlib import Path
from typing import Any

import zmq

from napari_pynta.errors import PyntaInputError

SERVER, CLIENT, AUTHORIZED = "server", "client", "authorized"


def make_keys(directory: str | Path) -> Path:
    """Create a key directory (server and client pairs, the client authorized).

    Parameters
    ----------
    directory : str or Path
        A new or empty folder (created with permissions 0700) in a folder that exists.

    Returns
    -------
    Path
        The directory.

    Raises
    ------
    PyntaInputError
        If ``directory`` already holds keys or files, or cannot be created.
    """
    import zmq.auth

    path = Path(directory)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise PyntaInputError(f"keys directory {str(path)!r} must be a new or empty folder")
    if not path.parent.is_dir():  # a mistyped path made all its missing parents (x28)
        raise PyntaInputError(
            f"keys directory {str(path)!r}: the folder {str(path.parent)!r}, which would hold "
            "it, does not exist; check the path, or create that folder first"
        )
    try:
        path.mkdir(exist_ok=True)
        os.chmod(path, 0o700)
        zmq.auth.create_certificates(str(path), SERVER)
        client_public, _ = zmq.auth.create_certificates(str(path), CLIENT)
        (path / AUTHORIZED).mkdir()
        shutil.copy(client_public, path / AUTHORIZED / f"{CLIENT}.key")
    except OSError as error:
        raise PyntaInputError(f"cannot create keys in {str(path)!r}: {error}") from None
    return path


def check_keys(directory: str | Path) -> Path:
    """Check that ``directory`` is a key directory of :func:`make_keys`; return it.

    Raises
    ------
    PyntaInputError
        Naming what is missing.
    """
    path = Path(directory)
    needed = [path / f"{SERVER}.key", path / f"{SERVER}.key_secret", path / AUTHORIZED]
    missing = [str(p) for p in needed if not p.exists()]
    if missing:
        raise PyntaInputError(
            f"keys directory {str(path)!r} lacks {missing}; make one with `pynta keys DIR`"
        )
    if not any((path / AUTHORIZED).glob("*.key")):
        raise PyntaInputError(f"no client key in {str(path / AUTHORIZED)!r}: nobody could connect")
    return path


def is_loopback(host: str) -> bool:
    """True if ``host`` names this machine only (127.0.0.0/8, ::1, localhost)."""
    try:
        return ipaddress.ip_address(socket.gethostbyname(host)).is_loopback
    except (OSError, ValueError):
        return False


def serve_securely(context: zmq.Context | None, sock: zmq.Socket, keys_dir: str) -> Any:
    """Make ``sock`` (not yet bound) a CURVE server that accepts only authorized clients.

    With a ``context``, starts the ZAP authenticator thread of that context (returned; stop it
    before closing); one per context serves all its sockets, so pass None for the next ones.
    """
    import zmq.auth

    authenticator = None
    if context is not None:
        from zmq.auth.thread import ThreadAuthenticator

        authenticator = ThreadAuthenticator(context)
        authenticator.start()
        authenticator.configure_curve(domain="*", location=str(Path(keys_dir) / AUTHORIZED))
    public, secret = zmq.auth.load_certificate(str(Path(keys_dir) / f"{SERVER}.key_secret"))
    sock.curve_secretkey = secret
    sock.curve_publickey = public
    sock.curve_server = True
    return authenticator


def connect_securely(sock: zmq.Socket, keys_dir: str | Path, client_key: str | Path | None) -> None:
    """Make ``sock`` (not yet connected) a CURVE client of the pipeline served with ``keys_dir``.

    Parameters
    ----------
    keys_dir : str or Path
        A directory holding the server's public key ``server.key`` (the secret is not needed).
    client_key : str or Path, optional
        The viewer's ``.key_secret`` file; default ``keys_dir/client.key_secret``.
    """
    import zmq.auth

    keys = Path(keys_dir)
    server_public, _ = zmq.auth.load_certificate(str(keys / f"{SERVER}.key"))
    public, secret = zmq.auth.load_certificate(str(client_key or keys / f"{CLIENT}.key_secret"))
    sock.curve_serverkey = server_public
    sock.curve_publickey = public
    sock.curve_secretkey = secret
