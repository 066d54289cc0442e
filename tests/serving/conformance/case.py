"""One conformance case, the answer it observed, and the table of all of them."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from typing import Callable


@dataclasses.dataclass(frozen=True)
class Target:
    """A running server: its gRPC address (host:port), its REST root (http://host:port) if any."""

    kind: str  # "dev" (tfrec serve) or "tensorflow_model_server"
    grpc: str
    rest: str | None = None
    model: str = "retrieval"
    base_path: str | None = None  # the model's base_path as the server sees it (for the reload cases)


@dataclasses.dataclass(frozen=True)
class Answer:
    """What a server answered: a status (gRPC code name, or ``HTTP 400`` style for REST) and a detail."""

    status: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.status}: {self.detail}" if self.detail else self.status


@dataclasses.dataclass(frozen=True)
class Case:
    """A client action and TF Serving's answer to it.

    ``expected`` is the status TF Serving gives; ``detail_contains`` (if set) a
    piece of its message or of the answer's content that must be there too;
    ``tf_serving`` the answer in words, for the table. ``run`` performs the
    action against a target and returns the observed :class:`Answer`.
    """

    name: str
    transport: str  # "gRPC" or "REST"
    expected: str
    tf_serving: str
    run: Callable[[Target], Answer]
    detail_contains: str = ""

    def check(self, answer: Answer) -> str | None:
        """Why ``answer`` differs from TF Serving's, or None when it conforms."""
        if answer.status != self.expected:
            return f"{self.name}: expected {self.expected}, got {answer}"
        if self.detail_contains and self.detail_contains not in answer.detail:
            return f"{self.name}: expected {self.detail_contains!r} in the answer, got {answer}"
        return None


def all_cases() -> list[Case]:
    """The cases of every module of this package, in module order."""
    import tests.serving.conformance as package

    cases = []
    for module in sorted(m.name for m in pkgutil.iter_modules(package.__path__)):
        if module.endswith("_cases"):
            cases.extend(importlib.import_module(f"{package.__name__}.{module}").CASES)
    return cases


def markdown_table(results: list[tuple[Case, Answer]]) -> str:
    """The conformance table: each case, TF Serving's answer, the server's, and whether they agree."""
    lines = ["| case | transport | TF Serving | this server | agrees |", "| --- | --- | --- | --- | --- |"]
    for case, answer in results:
        shown = str(answer).replace("|", "\\|").replace("\n", " ")
        if len(shown) > 120:
            shown = shown[:117] + "..."
        lines.append(f"| {case.name} | {case.transport} | {case.tf_serving} | {shown} | "
                     f"{'yes' if case.check(answer) is None else 'NO'} |")
    return "\n".join(lines)
