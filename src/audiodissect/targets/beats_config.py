"""The settings of a BEATs network, read from a checkpoint's ``cfg`` dict.

Field names and defaults are those of the released ``BEATsConfig``. Only the
fields that shape the network at inference are kept; the training-only ones
(dropouts, layer drop, layer-wise gradient decay) and any other entry of the
dict are ignored, as the release itself ignores them at inference.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from ..errors import AudioDissectError

#: Activations of the feed-forward block, by the release's names.
ACTIVATIONS = ("gelu", "gelu_accurate", "gelu_fast", "relu", "tanh", "linear")


@dataclasses.dataclass(frozen=True)
class BEATsConfig:
    """Architecture of a BEATs checkpoint (the release's field names and defaults).

    Attributes
    ----------
    input_patch_size : int
        Side of the square patches cut from the (frames x 128) filterbank (16 in the release).
    embed_dim : int
        Channels of the patch embedding.
    conv_bias : bool
        Whether the patch embedding has a bias.
    encoder_layers, encoder_embed_dim, encoder_ffn_embed_dim, encoder_attention_heads : int
    activation_fn : str
        One of :data:`ACTIVATIONS`.
    layer_norm_first : bool
        Pre-norm blocks (and a final encoder norm) instead of post-norm.
    deep_norm : bool
        Post-norm blocks whose residual is scaled by ``(2 * encoder_layers) ** 0.25``.
    conv_pos, conv_pos_groups : int
        Kernel size and groups of the convolutional positional embedding.
    relative_position_embedding : bool
        Bucketed relative-position attention bias, shared by all layers.
    num_buckets, max_distance : int
    gru_rel_pos : bool
        Gate the relative-position bias per query (``grep_linear``, ``grep_a``).
    finetuned_model : bool
        Whether the checkpoint has a classification head (``predictor``).
    predictor_class : int
        Classes of that head.
    """

    input_patch_size: int = -1
    embed_dim: int = 512
    conv_bias: bool = False
    encoder_layers: int = 12
    encoder_embed_dim: int = 768
    encoder_ffn_embed_dim: int = 3072
    encoder_attention_heads: int = 12
    activation_fn: str = "gelu"
    layer_norm_first: bool = False
    deep_norm: bool = False
    conv_pos: int = 128
    conv_pos_groups: int = 16
    relative_position_embedding: bool = False
    num_buckets: int = 320
    max_distance: int = 1280
    gru_rel_pos: bool = False
    finetuned_model: bool = False
    predictor_class: int = 527

    @classmethod
    def from_dict(cls, cfg: Any, *, where: str = "the checkpoint") -> BEATsConfig:
        """Read and check a ``cfg`` dict; unknown entries are ignored.

        Raises
        ------
        AudioDissectError
            When `cfg` is not a dict, a field has the wrong type, or the values
            do not describe a network (e.g. a dimension not divisible by the heads).
        """
        if not isinstance(cfg, Mapping):
            raise AudioDissectError(f"{where} has no 'cfg' dict (got {type(cfg).__name__})",
                                    hint="a BEATs checkpoint holds {'cfg': {...}, 'model': state_dict}")
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            if field.name not in cfg:
                continue
            value = cfg[field.name]
            if field.type == "bool":
                if isinstance(value, bool) or (isinstance(value, int) and value in (0, 1)):
                    value = bool(value)
                else:
                    raise _bad(where, field.name, value, "a bool")
            elif field.type == "int":
                if isinstance(value, bool) or not isinstance(value, int):
                    raise _bad(where, field.name, value, "an int")
            elif not isinstance(value, str):
                raise _bad(where, field.name, value, "a string")
            values[field.name] = value
        config = cls(**values)
        config.check(where=where)
        return config

    def check(self, *, where: str = "the checkpoint") -> None:
        """Raise :class:`AudioDissectError` when the values cannot build a network."""
        problems = []
        positive = ("input_patch_size", "embed_dim", "encoder_layers", "encoder_embed_dim",
                    "encoder_ffn_embed_dim", "encoder_attention_heads", "conv_pos", "conv_pos_groups")
        problems += [f"{name} = {getattr(self, name)} must be positive" for name in positive
                     if getattr(self, name) <= 0]
        if self.encoder_attention_heads > 0 and self.encoder_embed_dim % self.encoder_attention_heads:
            problems.append(f"encoder_embed_dim {self.encoder_embed_dim} is not divisible by "
                            f"encoder_attention_heads {self.encoder_attention_heads}")
        if self.conv_pos_groups > 0 and self.encoder_embed_dim % self.conv_pos_groups:
            problems.append(f"encoder_embed_dim {self.encoder_embed_dim} is not divisible by "
                            f"conv_pos_groups {self.conv_pos_groups}")
        if self.deep_norm and self.layer_norm_first:
            problems.append("deep_norm and layer_norm_first cannot both be set")
        if self.activation_fn not in ACTIVATIONS:
            problems.append(f"activation_fn {self.activation_fn!r} is not supported "
                            f"(supported: {', '.join(ACTIVATIONS)})")
        if self.relative_position_embedding and (self.num_buckets < 4 or self.max_distance <= self.num_buckets // 4):
            problems.append(f"num_buckets {self.num_buckets} and max_distance {self.max_distance} "
                            "need num_buckets >= 4 and max_distance > num_buckets / 4")
        if self.finetuned_model and self.predictor_class <= 0:
            problems.append(f"predictor_class = {self.predictor_class} must be positive")
        if problems:
            raise AudioDissectError(f"{where} has a BEATs cfg that cannot build a network: " + "; ".join(problems))

    @property
    def head_dim(self) -> int:
        return self.encoder_embed_dim // self.encoder_attention_heads


def _bad(where: str, name: str, value: Any, expected: str) -> AudioDissectError:
    return AudioDissectError(f"{where}: cfg field {name!r} is {value!r} ({type(value).__name__}), expected {expected}")
