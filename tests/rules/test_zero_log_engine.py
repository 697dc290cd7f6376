"""IA404 on real images, built by both builders: zero-log's RUN leaves a 256 MiB faillog of
zeros (sparse on disk, whole in the layer), as `useradd` does for a large UID without
--no-log-init; zero-log-fixed empties it in the same RUN and passes."""

from __future__ import annotations

import re

import pytest

from auditor.model.findings import Status
from tests.support.engine import (
    BUILDERS,
    IMAGES,
    base_of,
    daemon_report,
    layer_count,
    result,
)

pytestmark = [pytest.mark.engine, pytest.mark.usefixtures("fixture_images")]
builders = pytest.mark.parametrize("builder", BUILDERS)


def _faillog_size() -> int:
    """The size the Dockerfile's dd gives the faillog (seek=NM)."""
    text = (IMAGES / "zero-log" / "Dockerfile").read_text(encoding="utf-8")
    found = re.search(r"of=/var/log/faillog bs=1 count=0 seek=(\d+)M", text)
    assert found
    return int(found[1]) << 20


@builders
def test_a_faillog_of_zeros_is_found_in_the_run_layer(builder: str) -> None:
    report = daemon_report("zero-log", builder)
    outcome = result(report, "IA404")
    assert outcome.status is Status.WARN
    (finding,) = outcome.findings
    layer = layer_count(base_of("zero-log")) + 1  # the RUN, the first step that makes a layer
    assert finding.layer == layer
    assert finding.path == "var/log/faillog"
    assert finding.size == _faillog_size()
    assert finding.message.startswith("login log filled with zeros by useradd: /var/log/faillog")
    assert finding.evidence.startswith(f"layer {layer} (")
    assert "--no-log-init" in finding.evidence
    assert report.image.layer(layer).content is not None
    assert report.image.layer(layer).content.zero_files == ("var/log/faillog",)


@builders
def test_a_faillog_emptied_in_the_same_run_passes(builder: str) -> None:
    report = daemon_report("zero-log-fixed", builder)
    assert result(report, "IA404").status is Status.PASS
    files = report.image.files
    assert files is not None and files["var/log/faillog"].entry.size == 0
