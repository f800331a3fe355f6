"""Subcommands of the ``logmarket`` CLI: one module each, exposing ``register(subparsers)``."""
