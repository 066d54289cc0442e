"""Throughput of the content encoders on this machine, against its own matmul rate.

Prints items/s for MiniLM text encoding (raw strings in, tokenisation included) and
EfficientNet-Lite0 (ImageNet weights, the default image encoder) and EfficientNet-B0 image
encoding (JPEG bytes in, decoding included), and, as a baseline measured in the same run, the
float32 matmul rate of this machine. Each encoder's useful FLOP rate (model FLOPs x items/s; the
image models' FLOPs counted from their convolution and dense layers) is shown as a share of that
baseline, which makes figures from different machines comparable.

    python benchmarks/encoders.py [--seconds 10] [--text-batch 64] [--image-batch 32]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import tfrec  # noqa: F401  (Keras 2 for tf.keras before TensorFlow is imported)

import numpy as np
import tensorflow as tf

from tfrec.encoders.image import VARIANTS, ImageEncoderConfig, build_image_encoder
from tfrec.encoders.text import TextEncoderConfig, build_text_encoder

# EfficientNet-B0 at 224x224: 0.39 G multiply-adds (Tan & Le, 2019, table 2) = 0.78 GFLOP;
# scaled by pixel count for other sizes.
B0_FLOPS_224 = 0.78e9


def bert_flops_per_text(sequence_length: int, hidden: int, intermediate: int, layers: int) -> float:
    """Forward FLOPs of one packed text: projections, attention scores/mix, feed-forward."""
    t, d, i = sequence_length, hidden, intermediate
    per_layer = 2 * t * (4 * d * d) + 2 * 2 * t * t * d + 2 * t * (2 * d * i)
    return layers * per_layer


def image_backbone_flops(variant: str, size: int) -> float:
    """Forward FLOPs (2 x multiply-adds) of a variant's convolutions at ``size`` x ``size``.

    Counted on one forward pass of a randomly built backbone: each Conv2D and DepthwiseConv2D
    layer's output positions x kernel taps x input channels per output channel (depthwise: 1).
    Batch norm, activations and pooling are left out, as in the papers' figures.
    """
    import keras
    import keras_hub

    backbone = keras_hub.models.EfficientNetBackbone(**VARIANTS[variant], input_shape=(size, size, 3))
    total = [0]

    def counting(layer, call):
        def wrapped(inputs, *args, **kwargs):
            out = call(inputs, *args, **kwargs)
            kh, kw, cin, mult = layer.kernel.shape  # Conv2D: (kh, kw, cin, cout); depthwise: (kh, kw, c, 1)
            per_output = kh * kw * (1 if isinstance(layer, keras.layers.DepthwiseConv2D) else cin)
            total[0] += 2 * int(np.prod(out.shape[1:])) * per_output
            return out
        return wrapped

    for layer in backbone._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)) and layer.built:
            layer.call = counting(layer, layer.call)
    backbone(np.zeros((1, size, size, 3), np.float32))
    return float(total[0])


def timed(fn, seconds: float, warmup: int = 2) -> float:
    """Calls ``fn`` ``warmup`` times, then repeatedly for about ``seconds``; returns s/call."""
    for _ in range(warmup):
        fn()
    calls, start = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and calls >= 3:
            return elapsed / calls


def matmul_rate(seconds: float, n: int = 2048) -> float:
    a = tf.random.normal([n, n])
    b = tf.random.normal([n, n])
    step = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)))
    return 2 * n**3 / timed(lambda: step().numpy(), seconds)


def sample_jpegs(count: int, size: int = 256) -> list[bytes]:
    """Smooth synthetic pictures (decode cost like photos, unlike noise)."""
    y, x = np.mgrid[0:size, 0:size] / size
    out = []
    for k in range(count):
        rgb = np.stack([np.sin(6 * x + k), np.cos(5 * y - k), np.sin(4 * (x + y) + 0.3 * k)], -1)
        out.append(tf.io.encode_jpeg(((rgb + 1) * 127.5).astype(np.uint8), quality=90).numpy())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="timing window per row")
    parser.add_argument("--text-batch", type=int, default=64)
    parser.add_argument("--sequence-length", type=int, default=64)
    parser.add_argument("--image-batch", type=int, default=32)
    parser.add_argument("--image-size", type=int, default=224)
    args = parser.parse_args()

    rows = []
    peak = matmul_rate(args.seconds)
    rows.append(("matmul 2048x2048 f32 (baseline)", "-", "-", peak / 1e9, 1.0))

    text = build_text_encoder(TextEncoderConfig(sequence_length=args.sequence_length))
    words = "the a film about love war space family music city night old young story".split()
    rng = np.random.default_rng(0)
    # Long enough to fill the packed length, so the FLOP estimate is exact.
    texts = tf.constant([" ".join(rng.choice(words, 80)) for _ in range(args.text_batch)])
    encode_text = tf.function(lambda s: text(s, training=False))
    per_batch = timed(lambda: encode_text(texts).numpy(), args.seconds)
    flops = bert_flops_per_text(args.sequence_length, 384, 1536, 6)
    items = args.text_batch / per_batch
    rows.append(
        (f"MiniLM-L6 text, T={args.sequence_length}", args.text_batch, items, items * flops / 1e9,
         items * flops / peak)
    )

    jpegs = tf.constant(sample_jpegs(args.image_batch))
    for variant, label in (("lite0", "EfficientNet-Lite0 (ImageNet)"), ("b0", "EfficientNet-B0 (random)")):
        image = build_image_encoder(ImageEncoderConfig(variant=variant, image_size=args.image_size))
        encode_image = tf.function(lambda b, image=image: image(b, training=False))
        per_batch = timed(lambda: encode_image(jpegs).numpy(), args.seconds)
        flops = image_backbone_flops(variant, args.image_size)
        items = args.image_batch / per_batch
        rows.append(
            (f"{label} image, {args.image_size}px", args.image_batch, items,
             items * flops / 1e9, items * flops / peak)
        )
        print(f"{variant}: {flops / 1e9:.3f} GFLOP per image at {args.image_size}px", flush=True)

    print(f"\nmachine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"TensorFlow {tf.__version__}")
    print(f"{'workload':44} {'batch':>6} {'items/s':>9} {'GFLOP/s':>9} {'of matmul':>10}")
    for name, batch, items, gflops, share in rows:
        items_s = f"{items:9.1f}" if isinstance(items, float) else f"{items:>9}"
        print(f"{name:44} {batch!s:>6} {items_s} {gflops:9.1f} {share:10.1%}")


if __name__ == "__main__":
    main()
