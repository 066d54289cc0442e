"""Corrupt, truncated and zero-byte item images decode to "no image" instead of failing a batch.

The loaders drop only images that are certainly unusable (empty, another
format); a file with a valid header but broken body reaches the in-graph
decoder. Here a batch mixing good and every kind of bad bytes must decode
in one call, good images valid, bad ones all-zero and marked invalid.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

import tfrec  # noqa: F401
from tests.reliability.tally import TALLY
from tfrec.encoders.image_decoding import decode_images


def encoded(fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((20, 30, 3), 200, dtype=np.uint8)).save(buffer, format=fmt)
    return buffer.getvalue()


def test_bad_image_bytes_decode_as_missing():
    jpeg, png = encoded("JPEG"), encoded("PNG")
    bad = {
        "zero bytes": b"",
        "truncated JPEG": jpeg[: len(jpeg) // 3],
        "JPEG header only": jpeg[:20],
        "corrupt JPEG body": jpeg[:30] + bytes(range(256)) * 4,
        "HTML page": b"<html>404</html>",
        "truncated PNG": png[:40],
        "random bytes": np.random.default_rng(0).bytes(5000),
    }
    batch = [jpeg, *bad.values(), png]
    pixels, valid = decode_images(batch, 16)
    pixels, valid = pixels.numpy(), valid.numpy()
    assert pixels.shape == (len(batch), 16, 16, 3)
    assert valid[0] and valid[-1]
    # A truncated JPEG may still decode (libjpeg pads the missing rows); everything else must not.
    undecodable = [name for name, ok in zip(bad, valid[1:-1]) if not ok]
    assert set(bad) - {"truncated JPEG", "corrupt JPEG body"} <= set(undecodable), undecodable
    assert not pixels[1:-1][~valid[1:-1]].any()
    assert np.isfinite(pixels).all()
    TALLY.add("inputs", "corrupt/zero-byte image bytes in one batch", tried=len(bad),
              decoded_as_missing=len(undecodable), batch_failed=0)
