"""Exports made once per session: the tiny sequential model (for the tests that call its signatures)
and one version of every kind of model (for the tests that read what was exported)."""

import dataclasses

import pytest
import tensorflow as tf

from tests.ranking.conftest import tiny_listwise_run  # noqa: F401  (session fixture of the ranking export)
from tfrec.export.candidate_encoder_export import export_candidate_encoder
from tfrec.export.ranking_export import export_ranking
from tfrec.export.retrieval_export import export_retrieval
from tfrec.training.experiment import Experiment
from tfrec.training.ranking_experiment import RankingExperiment

QUIET = {"log": lambda *_: None}


@pytest.fixture(scope="session")
def served(tiny_sequential_run, tmp_path_factory):
    """``(experiment, signatures)`` of the tiny sequential run's retrieval export (max_k 40)."""
    exp = Experiment.from_run(str(tiny_sequential_run), log=lambda *_: None)
    model = exp.load_model(str(tiny_sequential_run))
    path = export_retrieval(exp, model, str(tmp_path_factory.mktemp("saved_models")), max_k=40)
    return exp, tf.saved_model.load(path).signatures


def _retrieval_with_history(run, base):
    exp = Experiment.from_run(str(run), **QUIET)
    return export_retrieval(exp, exp.load_model(str(run)), base, max_k=20, log=QUIET["log"])


def _retrieval_partitioned_int8(run, base):
    """The partitioned index with int8 vectors (chosen from 200K items on; asked for here)."""
    exp = Experiment.from_run(str(run), **QUIET)
    export = dataclasses.replace(exp.config.export, index="partitioned", partitions=8, nprobe=2, quantize="int8")
    exp = dataclasses.replace(exp, config=dataclasses.replace(exp.config, export=export))
    return export_retrieval(exp, exp.load_model(str(run)), base, max_k=20, log=QUIET["log"])


def _candidate_encoder(run, base):
    exp = Experiment.from_run(str(run), **QUIET)
    return export_candidate_encoder(exp, exp.load_model(str(run)), base, log=QUIET["log"])


def _ranking_with_history(run, base):
    exp = RankingExperiment.from_run(str(run), **QUIET)
    return export_ranking(exp, exp.load_model(str(run)), base, log=QUIET["log"])


# case -> (run fixture, export, the signatures it must have).
EXPORTS = {
    "retrieval (sequential)": ("tiny_sequential_run", _retrieval_with_history, {"serving_default", "with_history"}),
    "retrieval (partitioned index, int8)": ("tiny_run", _retrieval_partitioned_int8, {"serving_default"}),
    "candidate_encoder": ("tiny_multimodal_run", _candidate_encoder, {"serving_default", "with_features"}),
    "ranking (history, retrieval score)": ("tiny_listwise_run", _ranking_with_history,
                                           {"serving_default", "with_history"}),
}


@pytest.fixture(scope="session")
def exported_versions(request, tmp_path_factory) -> dict[str, str]:
    """case -> the version folder of one export of each kind of EXPORTS, in one base path."""
    base = str(tmp_path_factory.mktemp("every_export"))
    return {case: export(request.getfixturevalue(fixture), base) for case, (fixture, export, _) in EXPORTS.items()}
