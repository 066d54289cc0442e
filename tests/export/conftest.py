"""The tiny sequential model exported once, for the tests that only call its signatures."""

import pytest
import tensorflow as tf

from tfrec.export.retrieval_export import export_retrieval
from tfrec.training.experiment import Experiment


@pytest.fixture(scope="session")
def served(tiny_sequential_run, tmp_path_factory):
    """``(experiment, signatures)`` of the tiny sequential run's retrieval export (max_k 40)."""
    exp = Experiment.from_run(str(tiny_sequential_run), log=lambda *_: None)
    model = exp.load_model(str(tiny_sequential_run))
    path = export_retrieval(exp, model, str(tmp_path_factory.mktemp("saved_models")), max_k=40)
    return exp, tf.saved_model.load(path).signatures
