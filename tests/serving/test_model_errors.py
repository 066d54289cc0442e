"""A check that fails inside a model answers with its own message, not the graph's Assert dump."""

import pytest
import tensorflow as tf

from tfrec.serving.errors import model_error_message


@tf.function(input_signature=[tf.TensorSpec([None], tf.string), tf.TensorSpec([None], tf.string)])
def _pairs(user_id, item_id):
    checks = [tf.debugging.assert_equal(tf.shape(user_id), tf.shape(item_id),
                                        message="user_id and item_id must have the same length")]
    with tf.control_dependencies(checks):
        return tf.identity(user_id)


def test_an_assert_in_a_graph_gives_its_message_only():
    with pytest.raises(tf.errors.InvalidArgumentError) as e:
        _pairs(tf.constant(["u1", "u2"]), tf.constant(["i1"]))
    assert "node" in e.value.message or "Condition" in e.value.message  # what TensorFlow says
    assert model_error_message(e.value.message) == "user_id and item_id must have the same length"


def test_other_errors_keep_their_first_line_without_the_op_name():
    message = "indices[0] = 7 is not in [0, 3)\n\t [[{{node GatherV2}}]] [Op:__inference_serve_123]"
    assert model_error_message(message) == "indices[0] = 7 is not in [0, 3)"
    assert model_error_message("Expected x [Op:Foo]") == "Expected x"
    assert model_error_message("") == "the model failed"
