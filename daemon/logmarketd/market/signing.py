"""The marketplace's Ed25519 key: it signs every link of the ledger's chain.

The private key lives in the state directory (``ledger.key``, PEM, mode 0600), made once at
the first start. A damaged file is refused, never replaced: every signature in the ledger was
made with it, and a new key would leave them unverifiable. The public key is what anyone
needs to check the ledger offline (``logmarket ledger verify``); the daemon serves it and
writes it beside the private key (``ledger.pub``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = [
    "LedgerKey",
    "load_or_create_ledger_key",
    "load_public_key",
    "signature_ok",
    "write_public_key",
]

ALGORITHM = "Ed25519"


@dataclass(frozen=True, slots=True)
class LedgerKey:
    """The private key, with the forms its public half is shown in."""

    private_key: Ed25519PrivateKey

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    def sign(self, message: bytes) -> bytes:
        return self.private_key.sign(message)

    def public_raw(self) -> bytes:
        return self.public_key.public_bytes_raw()

    def public_b64(self) -> str:
        return base64.b64encode(self.public_raw()).decode("ascii")

    def public_pem(self) -> str:
        return self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")

    def fingerprint(self) -> str:
        """``sha256:`` and the hex SHA-256 of the raw public key: short, to compare by eye."""
        return "sha256:" + hashlib.sha256(self.public_raw()).hexdigest()


def load_or_create_ledger_key(path: str | os.PathLike[str]) -> LedgerKey:
    """The key from ``path``, created (mode 0600) when there is no file yet.

    A file that holds no Ed25519 private key is a ``ValueError`` naming it (never replaced);
    one that cannot be read or created, an ``OSError``.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_private(Path(path))
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
        f.flush()
        os.fsync(f.fileno())
    return LedgerKey(private)


def _read_private(path: Path) -> LedgerKey:
    data = path.read_bytes()
    try:
        private = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ValueError(f"{path}: not a PEM Ed25519 ledger key") from None
    if not isinstance(private, Ed25519PrivateKey):
        raise ValueError(f"{path}: holds a key that is not Ed25519")
    return LedgerKey(private)


def write_public_key(key: LedgerKey, path: Path) -> None:
    """Write the public key (PEM) to ``path`` unless it already says the same."""
    pem = key.public_pem()
    try:
        if path.read_text(encoding="ascii") == pem:
            return
    except (OSError, UnicodeDecodeError):
        pass
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(pem, encoding="ascii")
    os.replace(tmp, path)


def load_public_key(text: str) -> Ed25519PublicKey:
    """A public key from its PEM or its base64 raw 32 bytes (what the endpoint serves);
    ``ValueError`` when it is neither."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(text.encode("ascii"))
        except (ValueError, UnsupportedAlgorithm):
            raise ValueError("not a PEM public key") from None
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("the public key is not Ed25519")
        return key
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("neither PEM nor base64") from None
    if len(raw) != 32:
        raise ValueError(f"an Ed25519 public key is 32 bytes, this one {len(raw)}")
    return Ed25519PublicKey.from_public_bytes(raw)


def signature_ok(public_key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        public_key.verify(signature, message)
    except InvalidSignature:
        return False
    return True
