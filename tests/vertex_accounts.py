"""Test Google service accounts: an RSA key generated per test run, the service-account
JSON file google-auth reads (its token_uri pointed at the simulator's fake token endpoint),
and the simulator's registry of public keys (``SIM_VERTEX_ACCOUNTS``)."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

TOKEN_PATH = "/_sim/oauth2/token"


def service_account(directory: Path, name: str, token_uri: str, project: str = "tollgate-test") -> tuple[Path, str, str]:
    """Writes ``<name>.json`` (a service-account key file); returns (its path, client_email, public key PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    email = f"{name}@{project}.iam.gserviceaccount.com"
    info = {
        "type": "service_account",
        "project_id": project,
        "private_key_id": secrets.token_hex(20),
        "private_key": private,
        "client_email": email,
        "client_id": str(secrets.randbelow(10**20)),
        "token_uri": token_uri,
    }
    path = directory / f"{name}.json"
    path.write_text(json.dumps(info))
    path.chmod(0o600)
    return path, email, public


def write_registry(path: Path, accounts: dict[str, str]) -> Path:
    """The simulator's ``SIM_VERTEX_ACCOUNTS`` file: client_email -> public key PEM."""
    path.write_text(json.dumps(accounts))
    return path
