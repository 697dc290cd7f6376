"""A Docker client's configuration for tests: a config.json folder (for DOCKER_CONFIG) and real
`docker-credential-*` programs answering `get` from a fixed store."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def docker_config(folder: Path, document: Mapping[str, Any]) -> Path:
    """A Docker config folder holding config.json (for DOCKER_CONFIG)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(document), encoding="utf-8")
    return folder


def credential_helper(folder: Path, name: str, store: Mapping[str, tuple[str, str]]) -> Path:
    """A real `docker-credential-NAME` executable answering `get` from a fixed store."""
    folder.mkdir(parents=True, exist_ok=True)
    program = folder / f"docker-credential-{name}"
    program.write_text(
        "#!/usr/bin/env python3\n"
        "import json, sys\n"
        f"STORE = {json.dumps({k: list(v) for k, v in store.items()})}\n"
        "if sys.argv[1:] != ['get']:\n    sys.exit(2)\n"
        "server = sys.stdin.read().strip()\n"
        "if server not in STORE:\n"
        "    print('credentials not found in native keychain')\n    sys.exit(1)\n"
        "user, secret = STORE[server]\n"
        "print(json.dumps({'ServerURL': server, 'Username': user, 'Secret': secret}))\n",
        encoding="utf-8",
    )
    program.chmod(0o755)
    return program
