"""Encoding a synthetic catalogue's content, then the same catalogue again from the shared cache.

Builds the demo's encoders (MiniLM text, EfficientNet-Lite0 images), generates a synthetic catalogue
of ``--items`` items with descriptions and images, and encodes it twice with
:func:`tfrec.models.content.encode_catalogue` into a fresh content cache: the first pass encodes
(with its progress lines), the second must be a cache hit. Then one item's text is changed and the
catalogue encoded a third time (only that text should be encoded). Prints a table of seconds and
items/s per pass, and the second pass's speed as a ratio to the first.

    python benchmarks/content_cache.py [--items 10000] [--image-size 32] [--encoder-image-size 96]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time

import tfrec  # noqa: F401  (Keras 2 before TensorFlow)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--image-size", type=int, default=32, help="side of the synthetic PNG images")
    parser.add_argument("--encoder-image-size", type=int, default=96, help="Lite0's input side")
    parser.add_argument("--sequence-length", type=int, default=64)
    args = parser.parse_args()

    from tfrec.config import ContentConfig, ImageEncoderConfig, SyntheticConfig, TextEncoderConfig
    from tfrec.data.synthetic import load_or_generate
    from tfrec.models.content import ContentFeaturizer, encode_catalogue, export_encoder_modules, read_image_bytes

    work = tempfile.mkdtemp(prefix="tfrec-content-cache-bench-")
    cache = os.path.join(work, "cache")
    config = ContentConfig(mode="cached", text=TextEncoderConfig(sequence_length=args.sequence_length),
                           image=ImageEncoderConfig(variant="lite0", image_size=args.encoder_image_size))
    started = time.monotonic()
    dataset = load_or_generate(SyntheticConfig(num_users=200, num_items=args.items, image_size=args.image_size,
                                               mean_interactions_per_user=5), os.path.join(work, "data"))
    print(f"synthetic catalogue of {len(dataset.items):,} items in {time.monotonic() - started:.1f} s")
    featurizer = ContentFeaturizer(export_encoder_modules(config, os.path.join(work, "encoders")), name="content")
    items, images = dataset.items, read_image_bytes(dataset.items.image_path)

    rows = []
    for name, table in (("first run (encodes)", items), ("second run (cache)", items),
                        ("one text changed", _one_text_changed(items))):
        print(f"\n-- {name}")
        started = time.monotonic()
        encode_catalogue(featurizer, table, images, config, cache)
        seconds = time.monotonic() - started
        rows.append((name, seconds, len(table) / seconds))
    print(f"\n{args.items:,} items, MiniLM T={args.sequence_length}, Lite0 at {args.encoder_image_size} px, "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    print("| pass | seconds | items/s | speed vs first |")
    print("| --- | --- | --- | --- |")
    for name, seconds, rate in rows:
        print(f"| {name} | {seconds:.1f} | {rate:,.0f} | {rate / rows[0][2]:.0f}× |")


def _one_text_changed(items):
    changed = items.copy()
    changed.loc[changed.index[0], "text"] = "a text no run has encoded yet"
    return changed


if __name__ == "__main__":
    main()
