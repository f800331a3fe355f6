"""The daemon's code, for the commands that run it on this host (``analyze``, ``templates``,
``keys``): imported only when such a command runs, and missing said in one line."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from logmarket.errors import MissingExtraError

__all__ = ["daemon_code"]

INSTALL = "pip install 'logmarket[daemon]'"


@contextlib.contextmanager
def daemon_code() -> Iterator[None]:
    """Put the command's imports of ``logmarketd`` in this block: a module that is not there
    (the daemon package, or a dependency of its ``daemon`` extra) becomes a
    :class:`MissingExtraError` naming the install command and the missing module."""
    try:
        yield
    except ModuleNotFoundError as exc:
        missing = f" (no module named {exc.name!r})" if exc.name else ""
        raise MissingExtraError(f"needs the daemon package: {INSTALL}{missing}") from None
