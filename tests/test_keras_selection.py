"""``import tfrec`` selects Keras 2, and refuses when TensorFlow already loaded Keras 3."""

import os
import subprocess
import sys


def _python(code):
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)


def test_importing_tfrec_first_gives_keras_2():
    done = _python("import tfrec, tensorflow as tf; print(tf.keras.__name__)")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "tf_keras" in done.stdout


def test_tensorflow_imported_first_with_keras_3_is_a_clear_error():
    done = _python("import tensorflow\nimport tfrec")
    assert done.returncode != 0
    assert "KerasVersionError" in done.stderr and "TF_USE_LEGACY_KERAS=1" in done.stderr
