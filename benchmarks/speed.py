"""Where the time goes: training throughput by tower, encoder throughput, retrieval latency by corpus size.

    python benchmarks/speed.py [--steps 20] [--batch 128] [--encoder-seconds 5] [--out speed.json]

Three tables, each with a baseline measured in the same run (these machines
are noisy, so compare ratios):

1. training examples/s of ``model.fit`` on the built-in synthetic data: the
   id-only two-tower model (baseline), the light-feature model, and the
   multimodal model (MiniLM text + EfficientNet-B0 image) with encoders
   cached, frozen in the tower, and fine-tuned; ``--steps`` steps after two
   warm-up steps, batch ``--batch``;
2. candidate encoding items/s for MiniLM and EfficientNet-B0, and the share of
   this machine's float32 matmul rate (the baseline) their model FLOPs reach;
3. in-process retrieval latency (one user, k=10, TFRS BruteForce) against
   corpus size, 1K to 1M items, as a ratio to the 1K corpus.

``--out`` also writes the latency series in the form ``tfrec report --latency`` plots.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import tfrec  # noqa: E402,F401

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

from encoders import B0_FLOPS_224, bert_flops_per_text, matmul_rate, sample_jpegs, timed  # noqa: E402
from serving import SyntheticRetrieval  # noqa: E402
from tfrec.config import load_config  # noqa: E402
from tfrec.data.pipeline import interaction_dataset  # noqa: E402
from tfrec.training.experiment import Experiment  # noqa: E402

CONFIG = os.path.join(os.path.dirname(__file__), "..", "pipelines", "configs", "retrieval_synthetic.yaml")
CONTENT = {"text": {"preset": "minilm", "sequence_length": 64}, "image": {"variant": "b0", "image_size": 96}}
TOWERS = {
    "id-only": {"model.use_user_features": False, "model.use_item_features": False},
    "light-features": {},
    "multimodal cached": {"model.content": {**CONTENT, "mode": "cached"}},
    "multimodal frozen": {"model.content": {**CONTENT, "mode": "frozen"}},
    "multimodal fine-tuned": {"model.content": {**CONTENT, "mode": "finetune"}},
}


def training_throughput(overrides: dict, steps: int, batch: int, work: str) -> float:
    """Examples/s of ``model.fit`` for ``steps`` steps after two warm-up steps."""
    config = load_config(CONFIG, overrides={**overrides, "data.cache_dir": os.path.join(work, "data")})
    exp = Experiment.prepare(config, tempfile.mkdtemp(dir=work), log=lambda *_: None)
    model = exp.build_model()
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    ds = interaction_dataset(exp.split.train, exp.join, batch, shuffle_seed=0).repeat()
    model.fit(ds, epochs=1, steps_per_epoch=2, verbose=0)
    start = time.perf_counter()
    model.fit(ds, epochs=1, steps_per_epoch=steps, verbose=0)
    return steps * batch / (time.perf_counter() - start)


def encoder_rates(seconds: float) -> dict[str, tuple[float, float]]:
    """``{name: (items/s, useful FLOP/s)}`` for MiniLM (T=64, batch 64) and B0 (224 px, batch 32)."""
    from tfrec.encoders.image import ImageEncoderConfig, build_image_encoder
    from tfrec.encoders.text import TextEncoderConfig, build_text_encoder

    text = build_text_encoder(TextEncoderConfig(sequence_length=64))
    texts = tf.constant(["a quiet film about a lighthouse keeper and the storm that changes him"] * 64)
    text_step = tf.function(lambda: text(texts))
    text_rate = 64 / timed(lambda: text_step().numpy(), seconds)
    image = build_image_encoder(ImageEncoderConfig(variant="b0", image_size=224))
    jpegs = tf.constant(sample_jpegs(32))
    image_step = tf.function(lambda: image(jpegs))
    image_rate = 32 / timed(lambda: image_step().numpy(), seconds)
    return {
        "MiniLM text (T=64)": (text_rate, text_rate * bert_flops_per_text(64, 384, 1536, 6)),
        "EfficientNet-B0 image (224 px)": (image_rate, image_rate * B0_FLOPS_224),
    }


def retrieval_latency(sizes, calls: int = 200) -> dict[int, tuple[float, float]]:
    """``{items: (p50 ms, p99 ms)}`` of one in-process retrieval call per corpus size."""
    out = {}
    for items in sizes:
        model = SyntheticRetrieval(1000, items, 64, 100)
        user, k = tf.constant(["u1"]), tf.constant(10)
        for _ in range(5):
            model.serve(user, k)
        times = []
        for i in range(calls):
            start = time.perf_counter()
            model.serve(tf.constant([f"u{i % 1000}"]), k)["item_ids"].numpy()
            times.append(time.perf_counter() - start)
        out[items] = (1000 * float(np.percentile(times, 50)), 1000 * float(np.percentile(times, 99)))
        del model
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--towers", nargs="*", default=list(TOWERS))
    parser.add_argument("--encoder-seconds", type=float, default=5.0)
    parser.add_argument("--sizes", default="1000,10000,100000,1000000")
    parser.add_argument("--out", help="JSON with every figure (and the latency series for tfrec report)")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPU(s), load average {os.getloadavg()[0]:.1f} at start", flush=True)

    work = tempfile.mkdtemp(prefix="tfrec-speed-")
    training = {name: training_throughput(TOWERS[name], args.steps, args.batch, work) for name in args.towers}
    base = training.get("id-only")
    print(f"\n1. training, synthetic data, batch {args.batch}, {args.steps} steps")
    print(f"{'towers':<24} {'examples/s':>11} {'time per example vs id-only':>28}")
    for name, rate in training.items():
        print(f"{name:<24} {rate:>11,.0f} {(base / rate if base else float('nan')):>27.2f}x")

    peak = matmul_rate(args.encoder_seconds)
    encoders = encoder_rates(args.encoder_seconds)
    print(f"\n2. candidate encoding; baseline: float32 matmul {peak / 1e9:,.1f} GFLOP/s")
    print(f"{'encoder':<32} {'items/s':>9} {'GFLOP/s':>9} {'share of matmul rate':>21}")
    for name, (rate, flops) in encoders.items():
        print(f"{name:<32} {rate:>9,.1f} {flops / 1e9:>9,.1f} {flops / peak:>20.1%}")

    sizes = [int(s) for s in args.sizes.split(",")]
    latency = retrieval_latency(sizes)
    print("\n3. retrieval latency in process, one user, k=10, 64-d BruteForce")
    print(f"{'items':>10} {'p50 ms':>8} {'p99 ms':>8} {'p50 vs smallest':>16}")
    for items, (p50, p99) in latency.items():
        print(f"{items:>10,} {p50:>8.2f} {p99:>8.2f} {p50 / latency[sizes[0]][0]:>15.1f}x")

    if args.out:
        with open(args.out, "w") as f:
            json.dump({"training_examples_per_second": training,
                       "encoders": {n: {"items_per_second": r, "flops_per_second": fl}
                                    for n, (r, fl) in encoders.items()},
                       "matmul_flops_per_second": peak,
                       "in-process": {"corpus_size": sizes, "p50_ms": [latency[s][0] for s in sizes],
                                      "p99_ms": [latency[s][1] for s in sizes]}}, f, indent=2)


if __name__ == "__main__":
    main()
