"""Registries as a source (`docker://HOST[:PORT]/REPO[:TAG|@DIGEST]`): reference, auth, HTTP
(session.py), the API client others build on (client.py, blobs.py), and the source that turns
manifests into Images."""

from __future__ import annotations

from auditor.sources.registry.auth import ANONYMOUS, Credentials, from_docker_config
from auditor.sources.registry.blobs import BlobStream
from auditor.sources.registry.client import Manifest, RegistryClient
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
