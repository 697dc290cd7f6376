"""Consecutive simple RUNs become one; a RUN that cannot be chained safely stays apart."""

from __future__ import annotations

from tests.support.fix_images import audited, found

RUNS = """\
FROM base:1
COPY app.sh /app/
RUN mkdir -p /var/log/app
# the log file
RUN touch /var/log/app/app.log

RUN chmod 666 /var/log/app/app.log
CMD ["sh", "/app/app.sh"]
"""


def test_consecutive_runs_become_one_keeping_comments() -> None:
    audit = audited(RUNS, findings=[found("IA302", 3)])
    assert audit.fixed() == """\
FROM base:1
COPY app.sh /app/
RUN mkdir -p /var/log/app && \\
# the log file
    touch /var/log/app/app.log && \\
    chmod 666 /var/log/app/app.log
CMD ["sh", "/app/app.sh"]
"""
    (edit,) = audit.plan().edits
    assert (edit.start, edit.end, edit.rules) == (3, 7, ("IA302",))
    assert not audit.plan().advice


def test_a_run_that_changes_the_shell_ends_a_group() -> None:
    dockerfile = """\
FROM base:1
RUN cd /src && make
RUN make install
RUN --mount=type=cache,target=/root/.cache make test
RUN rm -rf /src
RUN echo done || echo failed
"""
    audit = audited(dockerfile, findings=[found("IA302", 2)])
    assert audit.fixed() == """\
FROM base:1
RUN cd /src && make
RUN make install
RUN --mount=type=cache,target=/root/.cache make test
RUN rm -rf /src && \\
    ( echo done || echo failed )
"""
    assert "left apart" in audit.advice()["IA302"]


def test_the_merge_takes_layers_off_the_layer_count() -> None:
    audit = audited(RUNS, findings=[found("IA302", 3), found("IA301", 7)])
    assert "take 2 layers off" in audit.advice()["IA301"]
