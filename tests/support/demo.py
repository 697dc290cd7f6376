"""The demo archive shipped in fixtures/archives/ (no engine needed): its good and bad images and
the secret values the bad one carries, which no output may ever show."""

from __future__ import annotations

from tests.support.paths import ROOT

ARCHIVE = ROOT / "fixtures" / "archives" / "demo.tar.gz"
GOOD = f"docker-archive:{ARCHIVE}:imgaudit-fixture/demo-good:classic"
BAD = f"docker-archive:{ARCHIVE}:imgaudit-fixture/demo-bad:buildkit"
# The fake token demo-bad carries in ENV, and the password in its copied .env file.
SECRETS = ("ghp_Zq3v9XkLmN4pR7sT1uW8yA2bC5dE6fG0hJ9k", "s3cr3t-pass")
