"""Every op of every exported SavedModel is one that stock TF Serving has.

TF Serving links TensorFlow's ops and tensorflow-text's, nothing else: an op
from another package (ScaNN, a custom kernel) would make it refuse the
version at load time. The ops of each export's graph and function library are
looked up in a fresh Python that imported only tensorflow and tensorflow_text.
"""

import json
import subprocess
import sys

from tensorflow.core.protobuf import saved_model_pb2

from tests.export.conftest import EXPORTS

CHECK = """
import json, sys
import tensorflow
from tensorflow.python.framework import op_def_registry
names = json.load(sys.stdin)
without_text = sorted(name for name in names if op_def_registry.get(name) is None)
import tensorflow_text
print(json.dumps([without_text, sorted(name for name in names if op_def_registry.get(name) is None)]))
"""


def saved_model_ops(path: str) -> set[str]:
    """The op names of the ``saved_model.pb`` at ``path``: graph nodes and function bodies, not calls
    of the library's own functions."""
    saved_model = saved_model_pb2.SavedModel()
    with open(f"{path}/saved_model.pb", "rb") as f:
        saved_model.ParseFromString(f.read())
    ops = set()
    for meta_graph in saved_model.meta_graphs:
        graph = meta_graph.graph_def
        functions = {f.signature.name for f in graph.library.function}
        ops |= {node.op for node in graph.node}
        ops |= {node.op for f in graph.library.function for node in f.node_def}
        ops -= functions
    return ops


def test_every_exported_op_is_registered_by_tensorflow_and_tensorflow_text(exported_versions):
    ops = {case: saved_model_ops(path) for case, path in exported_versions.items()}
    assert set(ops) == set(EXPORTS)
    assert all(len(found) > 10 for found in ops.values()), ops
    assert {"StatefulPartitionedCall", "TopKV2"} & ops["retrieval (sequential)"], ops["retrieval (sequential)"]
    every = sorted(set().union(*ops.values()))
    made_up = "TfrecNoSuchOp"  # proves the look-up can say no
    result = subprocess.run([sys.executable, "-c", CHECK], input=json.dumps(every + [made_up]), capture_output=True,
                            text=True, timeout=300, env={"TF_CPP_MIN_LOG_LEVEL": "2", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-2000:]
    text_ops, unregistered = json.loads(result.stdout.strip().splitlines()[-1])
    assert unregistered == [made_up], {case: sorted(set(unregistered) & found) for case, found in ops.items()}
    # The text encoder's tokenizer ops come from tensorflow-text (built into stock TF Serving) and only from it.
    assert set(text_ops) - {made_up} and set(text_ops) - {made_up} <= ops["candidate_encoder"]
    assert not [op for op in every if "Scann" in op or "ScaNN" in op]
