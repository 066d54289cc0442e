"""tfrec: a multimodal recommender on TensorFlow Recommenders.

TensorFlow Recommenders is written for Keras 2, which TensorFlow 2.16+ only
uses when ``TF_USE_LEGACY_KERAS=1`` is set *before* TensorFlow is imported.
Importing ``tfrec`` first sets it; importing TensorFlow with Keras 3 before
``tfrec`` cannot be undone in-process, so it is reported instead of
silently producing models TFRS cannot train.
"""

import os
import sys

__version__ = "0.1.0"


class KerasVersionError(ImportError):
    """TensorFlow was imported with Keras 3 before tfrec could select Keras 2."""


def _select_legacy_keras() -> None:
    if "tensorflow" in sys.modules:
        if os.environ.get("TF_USE_LEGACY_KERAS") not in ("1", "true", "True"):
            raise KerasVersionError(
                "TensorFlow was imported before tfrec without TF_USE_LEGACY_KERAS=1, "
                "so tf.keras is Keras 3 and TensorFlow Recommenders cannot use it. "
                "Import tfrec before tensorflow, or set TF_USE_LEGACY_KERAS=1 in the "
                "environment before starting Python."
            )
        return
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


_select_legacy_keras()
