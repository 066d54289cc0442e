"""Shared pieces of the reliability suite: a tally every test adds to, printed at the end.

Each reliability test counts what it tried (inputs, faults, requests) and what
came of it, and records the numbers here; ``pytest_terminal_summary`` prints
them as one table after the run, with or without ``-s``, so the figures in
``docs/reliability.md`` can be read off any run.
"""

from __future__ import annotations

import pytest

from tests.reliability.tally import TALLY


def pytest_terminal_summary(terminalreporter):
    lines = TALLY.lines()
    if lines:
        terminalreporter.section("reliability summary")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def trained(tiny_run):
    """The tiny retrieval run's experiment and model (trained once per session)."""
    from tfrec.training.experiment import Experiment

    exp = Experiment.from_run(str(tiny_run))
    return exp, exp.load_model(str(tiny_run))


@pytest.fixture(scope="session")
def served_base(trained, tmp_path_factory) -> str:
    """A model base path holding version 1 of the tiny retrieval model; read-only for tests."""
    from tests.reliability.server_process import export_base

    return export_base(trained, tmp_path_factory.mktemp("reliability_base"))


@pytest.fixture(scope="module")
def server_process(served_base, tmp_path_factory):
    """``tfrec serve`` over ``served_base`` as a subprocess on a free loopback port."""
    from tests.reliability.server_process import ServerProcess

    server = ServerProcess.start(served_base, str(tmp_path_factory.mktemp("server_logs")))
    yield server
    server.stop()
