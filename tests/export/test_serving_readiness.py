"""Every exported model is ready for TF Serving's batching: no rank-0 input, warm-up records for
every signature (replayed here the way the server loads a version), and its own batching file."""

import os

import pytest

from tests.ranking.conftest import tiny_listwise_run, tiny_ranking_values  # noqa: F401  (session fixtures)
from tfrec.export.candidate_encoder_export import export_candidate_encoder
from tfrec.export.ranking_export import export_ranking
from tfrec.export.retrieval_export import export_retrieval
from tfrec.export.serving_config import MODEL_BATCHING_PARAMS, read_batching_parameters
from tfrec.export.warmup import read_warmup_requests
from tfrec.serving.servable import load_servable, read_signature_defs
from tfrec.training.experiment import Experiment
from tfrec.training.ranking_experiment import RankingExperiment

QUIET = {"log": lambda *_: None}


def _retrieval_with_history(run, base):
    exp = Experiment.from_run(str(run), **QUIET)
    return export_retrieval(exp, exp.load_model(str(run)), base, max_k=20, log=QUIET["log"])


def _candidate_encoder(run, base):
    exp = Experiment.from_run(str(run), **QUIET)
    return export_candidate_encoder(exp, exp.load_model(str(run)), base, log=QUIET["log"])


def _ranking_with_history(run, base):
    exp = RankingExperiment.from_run(str(run), **QUIET)
    return export_ranking(exp, exp.load_model(str(run)), base, log=QUIET["log"])


EXPORTS = {
    "retrieval (sequential)": ("tiny_sequential_run", _retrieval_with_history, {"serving_default", "with_history"}),
    "candidate_encoder": ("tiny_multimodal_run", _candidate_encoder, {"serving_default", "with_features"}),
    "ranking (history, retrieval score)": ("tiny_listwise_run", _ranking_with_history,
                                           {"serving_default", "with_history"}),
}


@pytest.mark.parametrize("case", sorted(EXPORTS))
def test_every_signature_is_batchable_warmed_up_and_has_batching_params(case, request, tmp_path):
    fixture, export, signatures = EXPORTS[case]
    path = export(request.getfixturevalue(fixture), str(tmp_path))
    defs = read_signature_defs(path)
    assert set(defs) - {"__saved_model_init_op"} == signatures
    for key in signatures:
        for name, info in defs[key].inputs.items():
            assert len(info.tensor_shape.dim) >= 1, f"{case} '{key}' input '{name}' has no batch dimension"
    warmed = {log.predict_log.request.model_spec.signature_name for log in read_warmup_requests(path)}
    assert warmed == signatures
    servable = load_servable(os.path.basename(os.path.dirname(path)), 1, path)  # replays every record
    assert set(servable.signature_defs) >= signatures
    params = read_batching_parameters(os.path.join(path, MODEL_BATCHING_PARAMS))
    assert params.max_batch_size.value >= 1 and params.HasField("batch_timeout_micros")
