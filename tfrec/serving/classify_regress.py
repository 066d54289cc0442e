"""Which signatures TF Serving's Classify and Regress APIs accept, and its refusal of the others.

TF Serving (signature method-name check off, its default) runs a Classify call
on a signature with exactly one input named ``inputs`` (serialized
``tf.Example``s) and one or two outputs among ``classes`` and ``scores``; a
Regress call on one with the input ``inputs`` and the single output
``outputs``. Anything else is INVALID_ARGUMENT with the messages of its
``classifier.cc`` / ``regressor.cc``. tfrec's exports have no such signature
(their inputs are raw features), so both APIs answer with these refusals; a
signature that does qualify is answered UNIMPLEMENTED, since this server does
not run ``tf.Example`` signatures.
"""

from __future__ import annotations

import grpc
from google.protobuf import text_format

from tfrec.serving.errors import ServingError

CLASSIFY, REGRESS = "classify", "regress"
DEFAULT_SIGNATURE = "serving_default"


def _invalid(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)


def refusal(signature_defs: dict, signature_name: str, method: str) -> ServingError:
    """Why ``method`` (CLASSIFY or REGRESS) cannot run ``signature_name`` (empty: the default signature)."""
    name = signature_name or DEFAULT_SIGNATURE
    if name not in signature_defs:
        return _invalid(f"No signature was found with the name: {name}")
    signature = signature_defs[name]
    text = text_format.MessageToString(signature)
    if len(signature.inputs) != 1:
        return _invalid("Expected one input Tensor.")
    if method == CLASSIFY:
        if len(signature.outputs) not in (1, 2):
            return _invalid(f"Expected one or two output Tensors, found {len(signature.outputs)}")
        if "inputs" not in signature.inputs:
            return _invalid(f"No classification inputs found in SignatureDef: {text}")
        if "classes" not in signature.outputs and "scores" not in signature.outputs:
            return _invalid('Expected classification signature outputs to contain at least one of "classes" or '
                            f'"scores". Signature was: {text}')
    else:
        if len(signature.outputs) != 1:
            return _invalid("Expected one output Tensor.")
        if "inputs" not in signature.inputs:
            return _invalid(f"No regression inputs found in SignatureDef: {text}")
        if "outputs" not in signature.outputs:
            return _invalid(f"No regression outputs found in SignatureDef: {text}")
    return ServingError(grpc.StatusCode.UNIMPLEMENTED,
                        f"signature '{name}' is a {method} signature, which this server does not run")
