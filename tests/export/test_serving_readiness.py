"""Every exported model is ready for TF Serving's batching: no rank-0 input, warm-up records for
every signature (replayed here the way the server loads a version), and its own batching file."""

import os

import pytest

from tests.export.conftest import EXPORTS
from tfrec.export.serving_config import MODEL_BATCHING_PARAMS, read_batching_parameters
from tfrec.export.warmup import read_warmup_requests
from tfrec.serving.servable import load_servable, read_signature_defs


@pytest.mark.parametrize("case", sorted(EXPORTS))
def test_every_signature_is_batchable_warmed_up_and_has_batching_params(case, exported_versions):
    path, signatures = exported_versions[case], EXPORTS[case][2]
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
