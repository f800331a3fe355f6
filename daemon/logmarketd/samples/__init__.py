"""Sample logs for ``POST /simulate``: (name, source, content), read from the package."""

from __future__ import annotations

from importlib import resources

from logmarketd.models import Source

__all__ = ["SAMPLES"]

_SOURCES: dict[str, Source] = {
    "test-pytest-failure.log": "test",
    "runtime-traceback.log": "runtime",
    "runtime-nginx-attacks.log": "runtime",
    "build-gcc-error.log": "build",
    "deploy-healthcheck.log": "deploy",
    "runtime-heartbeat.log": "runtime",
}

SAMPLES: list[tuple[str, Source, str]] = [
    (name, source, resources.files(__name__).joinpath(name).read_text("utf-8"))
    for name, source in _SOURCES.items()
]
