"""Every conformance case against the served retrieval model: the answer TF Serving gives."""

import os

import pytest

from tests.serving.conformance.case import Target, all_cases

CASES = all_cases()


@pytest.mark.parametrize("case", CASES, ids=[f"{c.transport}: {c.name}" for c in CASES])
def test_the_server_answers_as_tf_serving_does(case, server, served_base):
    target = Target(kind=server.kind, grpc=server.target, rest=getattr(server, "rest", None),
                    base_path=os.path.join(os.path.abspath(served_base), "retrieval"))
    if case.transport == "REST" and target.rest is None:
        pytest.skip(f"{server.kind} was started without a REST port")
    problem = case.check(case.run(target))
    assert problem is None, problem
