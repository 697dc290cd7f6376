"""The JSON report's per-finding and per-image fields that scripts and baselines read."""

from __future__ import annotations

import dataclasses
import json

from auditor.formats.json import render
from auditor.model.report import Report
from tests.support.factory import copy, file, good, report


def test_findings_list_every_path_they_cover() -> None:
    spec = good().adding(copy("multi:abc in ./", file("myapp/tests/test_a.py", "x"),
                              file("myapp/tests/test_b.py", "x"), file("myapp/.env", "A=1")))
    spec = spec.configured(WorkingDir="")
    (image,) = json.loads(render(Report((report(spec),))))["images"]
    by_rule = {f["rule"]: f for f in image["findings"]}
    assert by_rule["IA403"]["path"] == "myapp/tests/test_a.py"
    assert by_rule["IA403"]["paths"] == ["myapp/tests/test_a.py", "myapp/tests/test_b.py"]
    assert by_rule["IA401"]["paths"] == ["myapp/.env"]
    assert by_rule["IA601"]["paths"] == [] and by_rule["IA601"]["path"] is None


def test_each_image_says_its_platform() -> None:
    item = report(good())
    arm = dataclasses.replace(item, image=dataclasses.replace(item.image, architecture="arm64"))
    unknown = dataclasses.replace(item, image=dataclasses.replace(item.image, architecture=""))
    images = json.loads(render(Report((arm, unknown))))["images"]
    assert [i["platform"] for i in images] == ["linux/arm64", None]
