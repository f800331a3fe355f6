"""logmarket: the client side of the log data marketplace.

Standard library only at import time. Add one line to a logging configuration::

    {"class": "logmarket.Handler"}

or call :func:`logmarket.install`. Records go to the local ``logmarketd`` daemon over its
Unix socket (``LOGMARKET_SOCKET``); see :mod:`logmarket.protocol` for the wire format.
"""

from __future__ import annotations

from logmarket.handler import Handler, install

__all__ = ["Handler", "__version__", "install"]

__version__ = "0.1.0"
