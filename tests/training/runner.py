"""Runs one training job for the tests in a fresh Python process: ``runner.py '<json spec>'``.

A fresh process because logical CPU devices and multi-worker collectives can
only be set up before TensorFlow initialises, and because a test may kill
it. Spec keys: ``config`` (YAML path), ``ranking`` (a ranking config and trainer),
``overrides`` (dotted key → value),
``run`` (run folder), ``out`` (JSON result file), ``logical_cpus`` (split the
CPU into that many devices first), ``slow_epoch_seconds`` (sleep after each
epoch's validation, so a test can kill the run mid-way), ``loss_check_out``
(first compare per-replica and single-device losses, written to that JSON file).
"""

import json
import sys

import tfrec  # noqa: F401  (Keras 2 before TensorFlow)
import tensorflow as tf


def split_cpu(n: int) -> None:
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)


def train(spec: dict) -> dict:
    from tfrec.config import RankingConfig, RetrievalConfig, load_config
    from tfrec.training.callbacks import EpochPrinter, RankingValidation
    from tfrec.training.ranking_trainer import train_ranking
    from tfrec.training.retrieval_trainer import train_retrieval

    ranking = spec.get("ranking", False)
    if spec.get("slow_epoch_seconds"):
        import time

        callback = EpochPrinter if ranking else RankingValidation
        epoch_end = callback.on_epoch_end

        def slow(self, epoch, logs=None):
            epoch_end(self, epoch, logs)
            time.sleep(spec["slow_epoch_seconds"])

        callback.on_epoch_end = slow
    config = load_config(spec["config"], RankingConfig if ranking else RetrievalConfig,
                         overrides=spec.get("overrides"))
    trainer = train_ranking if ranking else train_retrieval
    return trainer(config, spec["run"], log=lambda *a, **k: print(*a, flush=True))


def loss_check(spec: dict) -> dict:
    """Per-replica losses and summed gradients under MirroredStrategy vs one device, same global batch."""
    import numpy as np
    import tf_keras as keras

    from tfrec.config import load_config
    from tfrec.data.pipeline import interaction_dataset
    from tfrec.training.experiment import Experiment

    exp = Experiment.prepare(load_config(spec["config"], overrides=spec.get("overrides")), spec["run"],
                             log=lambda *a: None)
    from tfrec.training.strategy import make_strategy

    strategy = make_strategy("mirrored")  # the process's one MirroredStrategy, which training uses next
    assert strategy.num_replicas_in_sync == 2
    result = {}
    for global_batch in (64, 63):  # 63: replicas of 32 and 31 rows
        batch = next(iter(interaction_dataset(exp.split.train.iloc[:global_batch], exp.join, global_batch)))
        keras.utils.set_random_seed(0)
        single = exp.build_model()
        with tf.GradientTape() as tape:
            loss = single.compute_loss(batch, training=True)
        variables = single.trainable_variables
        single_grads = [tf.convert_to_tensor(g) for g in tape.gradient(loss, variables)]
        # The single-device loss restricted to each replica's queries (all candidates stay).
        half = (global_batch + 1) // 2
        queries = single.query_tower(batch, training=True)
        candidates = single.candidate_tower(batch, training=True)
        parts = []
        for weights in ([1.0] * half + [0.0] * (global_batch - half), [0.0] * half + [1.0] * (global_batch - half)):
            parts.append(float(single.task(queries, candidates, sample_weight=tf.constant(weights),
                                           candidate_sampling_probability=batch["item_probability"],
                                           candidate_ids=batch["item_id"], compute_metrics=False,
                                           compute_batch_metrics=False)))
        for gather in (True, False):
            with strategy.scope():
                model = exp.build_model()
                model.cross_replica_negatives = gather
                model.query_tower(batch), model.candidate_tower(batch)
                model.set_weights(single.get_weights())
            data = strategy.experimental_distribute_dataset(
                tf.data.Dataset.from_tensor_slices(batch).batch(global_batch))

            @tf.function
            def step(inputs, model=model):
                def replica(features):
                    with tf.GradientTape() as tape:
                        replica_loss = model.compute_loss(features, training=True)
                    grads = tape.gradient(replica_loss, model.trainable_variables)
                    return replica_loss, [tf.convert_to_tensor(g) for g in grads]

                losses, grads = strategy.run(replica, args=(inputs,))
                return (strategy.experimental_local_results(losses),
                        [strategy.reduce("SUM", g, axis=None) for g in grads])

            losses, grads = step(next(iter(data)))
            grad_error = max(float(np.max(np.abs(a.numpy() - b.numpy()))) for a, b in zip(grads, single_grads))
            result[f"batch{global_batch}_gather{int(gather)}"] = {
                "replica_losses": [float(x) for x in losses], "single_loss": float(loss),
                "single_parts": parts, "max_grad_error": grad_error,
                "max_grad": max(float(np.max(np.abs(g.numpy()))) for g in single_grads),
            }
    return result


def main() -> None:
    spec = json.loads(sys.argv[1])
    if spec.get("logical_cpus"):
        split_cpu(spec["logical_cpus"])
    if spec.get("loss_check_out"):
        with open(spec["loss_check_out"], "w") as f:
            json.dump(loss_check(spec), f)
    with open(spec["out"], "w") as f:
        json.dump(train(spec), f)


if __name__ == "__main__":
    main()
