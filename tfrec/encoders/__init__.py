"""Content encoders for item towers: BERT text, EfficientNet image, and the TF-Hub bridge.

The encoders are Keras 3 models (keras-hub); the towers are Keras 2 (TFRS). They meet through
a TF-Hub reusable SavedModel (:mod:`tfrec.encoders.hub_module`), so Keras 3 objects never
enter a Keras 2 model. Submodules are imported lazily because keras-hub is slow to import.
"""

import importlib

_EXPORTS = {
    "TextEncoderConfig": "text",
    "TextEncoder": "text",
    "build_text_encoder": "text",
    "find_minilm_preset": "text",
    "MiniLMNotInstalledError": "text",
    "ImageEncoderConfig": "image",
    "ImageEncoder": "image",
    "build_image_encoder": "image",
    "ImageBytesPreprocessor": "image_decoding",
    "decode_images": "image_decoding",
    "MaskedMeanPooling": "pooling",
    "EncoderHubModule": "hub_module",
    "export_hub_module": "hub_module",
    "hub_layer": "hub_module",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f"{__name__}.{_EXPORTS[name]}")
    return getattr(module, name)
