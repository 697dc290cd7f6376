"""Registries as a source (`docker://HOST[:PORT]/REPO[:TAG|@DIGEST]`): reference, auth, the HTTP
client others build on (see client.py for its API), and the source that turns manifests into
Images."""

from __future__ import annotations

from auditor.sources.registry.auth import ANONYMOUS, Credentials, from_docker_config
from auditor.sources.registry.client import BlobStream, Manifest, RegistryClient
from auditor.sources.registry.reference import (
    RegistryReference,
    is_loopback,
    parse_host,
    parse_reference,
)
from auditor.sources.registry.source import ClientPool, RegistryOptions, RegistrySource

__all__ = [
    "ANONYMOUS",
    "BlobStream",
    "ClientPool",
    "Credentials",
    "Manifest",
    "RegistryClient",
    "RegistryOptions",
    "RegistryReference",
    "RegistrySource",
    "from_docker_config",
    "is_loopback",
    "parse_host",
    "parse_reference",
]
