"""The BEATs network (Chen et al., 2022) as a plain PyTorch module.

Module names, parameter names and shapes follow the released checkpoints, so
their ``model`` state dict loads unchanged; the computation is written
batch-first throughout, so that every submodule's output has the clips on
axis 0 (the release runs its encoder time-first).

A clip's normalised filterbank (F frames x 128 bins) is cut into 16 x 16
patches by ``patch_embedding``; the T = (F // 16) * (128 // 16) patches,
time-major (patch ``t * 8 + f`` covers frames ``16t .. 16t+15`` and bins
``16f .. 16f+15``), are the transformer's tokens.

Padding. With a ``padding_mask`` over frames (True = padding), a time patch
that covers any padding frame is a padding token: it is zeroed before the
positional convolution, never attended to, and left out of the mean of the
predictor's logits. Since padding frames sit at the end, a padded clip's
outputs on its own tokens equal those of the clip alone (whose last partial
patch, under 16 frames, the strided convolution drops as well). Hooked
modules still see the padding tokens' outputs; batch clips of equal length
(as the recorder does) to keep them out of pooled activations.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .beats_config import BEATsConfig


def _activation(name: str):
    if name == "gelu":
        return F.gelu
    if name in ("gelu_accurate", "gelu_fast"):
        return lambda x: F.gelu(x, approximate="tanh")
    if name == "relu":
        return F.relu
    if name == "tanh":
        return torch.tanh
    return lambda x: x


class WeightNormConv1d(torch.nn.Module):
    """A grouped Conv1d with weight normalisation over the kernel axis (``dim=2``).

    Parameters ``weight_g`` (1, 1, K), ``weight_v`` (C, C / groups, K) and
    ``bias`` (C,), as ``torch.nn.utils.weight_norm(conv, dim=2)`` names them;
    the kernel is ``weight_v * weight_g / ||weight_v||``, the norm taken per
    kernel tap over the other two axes. Input and output (B, C, T).
    """

    channel_axis = 1

    def __init__(self, channels: int, kernel_size: int, groups: int):
        super().__init__()
        self.weight_g = torch.nn.Parameter(torch.ones(1, 1, kernel_size))
        self.weight_v = torch.nn.Parameter(torch.empty(channels, channels // groups, kernel_size))
        self.bias = torch.nn.Parameter(torch.zeros(channels))
        torch.nn.init.normal_(self.weight_v, std=math.sqrt(4.0 / (kernel_size * channels)))
        self.padding = kernel_size // 2
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        norm = self.weight_v.pow(2).sum(dim=(0, 1), keepdim=True).sqrt()
        weight = self.weight_v * (self.weight_g / norm)
        return F.conv1d(x, weight, self.bias, padding=self.padding, groups=self.groups)


class DropLastFrame(torch.nn.Module):
    """(B, C, T) -> (B, C, T - 1): an even kernel with ``K // 2`` padding gives one frame too many."""

    channel_axis = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, :-1]


def relative_buckets(query_length: int, key_length: int, *, num_buckets: int, max_distance: int,
                     device: torch.device | None = None) -> torch.Tensor:
    """Bucket of each (query, key) offset, shape (query_length, key_length) int64.

    Half the buckets hold keys after the query, half keys before or at it. In
    each half, offsets below a quarter of `num_buckets` have a bucket each;
    larger ones share buckets spaced logarithmically up to `max_distance`,
    beyond which all fall in the last bucket.
    """
    offset = (torch.arange(key_length, device=device)[None, :]
              - torch.arange(query_length, device=device)[:, None])
    half = num_buckets // 2
    exact = half // 2
    distance = offset.abs()
    far = exact + (torch.log(distance.clamp(min=1).float() / exact) / math.log(max_distance / exact)
                   * (half - exact)).to(torch.long)
    far = far.clamp(max=half - 1)
    return (offset > 0).long() * half + torch.where(distance < exact, distance, far)


class MultiheadAttention(torch.nn.Module):
    """Self-attention with the release's optional gated relative-position bias.

    Input (B, T, C), output (B, T, C). Submodules ``q_proj``, ``k_proj``,
    ``v_proj``, ``out_proj`` (B, T, C); with ``gru_rel_pos``, ``grep_linear``
    (B, H, T, 8) and the parameter ``grep_a`` (1, H, 1, 1). The layer that owns
    the shared bias table has ``relative_attention_bias`` (num_buckets, H); it
    is a lookup over (T, T) offsets whose output (T, T, H) has no clip axis, so
    it is not a layer to record.
    """

    def __init__(self, config: BEATsConfig, *, owns_bias: bool):
        super().__init__()
        dim, heads = config.encoder_embed_dim, config.encoder_attention_heads
        self.heads, self.head_dim = heads, config.head_dim
        self.scaling = self.head_dim ** -0.5
        self.k_proj = torch.nn.Linear(dim, dim)
        self.v_proj = torch.nn.Linear(dim, dim)
        self.q_proj = torch.nn.Linear(dim, dim)
        self.out_proj = torch.nn.Linear(dim, dim)
        if config.relative_position_embedding and owns_bias:
            self.relative_attention_bias = torch.nn.Embedding(config.num_buckets, heads)
        self.gru_rel_pos = config.gru_rel_pos
        if config.gru_rel_pos:
            self.grep_linear = torch.nn.Linear(self.head_dim, 8)
            self.grep_a = torch.nn.Parameter(torch.ones(1, heads, 1, 1))

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        return x.view(b, t, self.heads, self.head_dim).transpose(1, 2)  # (B, H, T, D)

    def forward(self, x: torch.Tensor, *, position_bias: torch.Tensor | None = None,
                key_padding: torch.Tensor | None = None) -> torch.Tensor:
        """`position_bias` (H, T, T) or None; `key_padding` (B, T) bool, True = not attended to."""
        b, t, c = x.shape
        q = self._heads(self.q_proj(x))
        k = self._heads(self.k_proj(x))
        v = self._heads(self.v_proj(x))
        scores = (q * self.scaling) @ k.transpose(-1, -2)  # (B, H, T, T)
        if position_bias is not None:
            bias = position_bias.unsqueeze(0)
            if self.gru_rel_pos:
                gates = torch.sigmoid(self.grep_linear(q).view(b, self.heads, t, 2, 4).sum(-1))  # (B, H, T, 2)
                gate_a, gate_b = gates[..., :1], gates[..., 1:]
                bias = (gate_a * (gate_b * self.grep_a - 1.0) + 2.0) * bias
            scores = scores + bias
        if key_padding is not None:
            scores = scores.masked_fill(key_padding[:, None, None, :], float("-inf"))
        attended = torch.softmax(scores, dim=-1) @ v  # (B, H, T, D)
        return self.out_proj(attended.transpose(1, 2).reshape(b, t, c))


class EncoderLayer(torch.nn.Module):
    """One transformer block: ``self_attn``, ``self_attn_layer_norm``, ``fc1``, ``fc2``, ``final_layer_norm``.

    Pre-norm when ``layer_norm_first``; otherwise post-norm, with the residual
    scaled by ``(2 * encoder_layers) ** 0.25`` under ``deep_norm``.
    Input and output (B, T, C); ``fc1`` outputs (B, T, ffn) before the activation.
    """

    def __init__(self, config: BEATsConfig, *, owns_bias: bool):
        super().__init__()
        dim = config.encoder_embed_dim
        self.self_attn = MultiheadAttention(config, owns_bias=owns_bias)
        self.self_attn_layer_norm = torch.nn.LayerNorm(dim)
        self.fc1 = torch.nn.Linear(dim, config.encoder_ffn_embed_dim)
        self.fc2 = torch.nn.Linear(config.encoder_ffn_embed_dim, dim)
        self.final_layer_norm = torch.nn.LayerNorm(dim)
        self.activation = _activation(config.activation_fn)
        self.layer_norm_first = config.layer_norm_first
        self.alpha = (2 * config.encoder_layers) ** 0.25 if config.deep_norm else 1.0

    def _feed_forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.activation(self.fc1(x)))

    def forward(self, x: torch.Tensor, *, position_bias: torch.Tensor | None,
                key_padding: torch.Tensor | None) -> torch.Tensor:
        attend = dict(position_bias=position_bias, key_padding=key_padding)
        if self.layer_norm_first:
            x = x + self.self_attn(self.self_attn_layer_norm(x), **attend)
            return x + self._feed_forward(self.final_layer_norm(x))
        x = self.self_attn_layer_norm(x * self.alpha + self.self_attn(x, **attend))
        return self.final_layer_norm(x * self.alpha + self._feed_forward(x))


class Encoder(torch.nn.Module):
    """Convolutional positional embedding (``pos_conv``), the ``layers`` and ``layer_norm``.

    The relative-position table lives in layer 0 and is shared by every layer
    (it appears under each layer's name in the state dict, as in the release).
    """

    def __init__(self, config: BEATsConfig):
        super().__init__()
        dim = config.encoder_embed_dim
        pos = [WeightNormConv1d(dim, config.conv_pos, config.conv_pos_groups)]
        if config.conv_pos % 2 == 0:
            pos.append(DropLastFrame())
        pos.append(torch.nn.GELU())
        self.pos_conv = torch.nn.Sequential(*pos)
        self.layers = torch.nn.ModuleList(EncoderLayer(config, owns_bias=i == 0)
                                          for i in range(config.encoder_layers))
        if config.relative_position_embedding:
            shared = self.layers[0].self_attn.relative_attention_bias
            for layer in list(self.layers)[1:]:
                layer.self_attn.relative_attention_bias = shared
        self.layer_norm = torch.nn.LayerNorm(dim)
        self.config = config

    def position_bias(self, length: int, device: torch.device) -> torch.Tensor | None:
        """The shared relative-position bias, shape (H, length, length), or None."""
        if not self.config.relative_position_embedding:
            return None
        buckets = relative_buckets(length, length, num_buckets=self.config.num_buckets,
                                   max_distance=self.config.max_distance, device=device)
        return self.layers[0].self_attn.relative_attention_bias(buckets).permute(2, 0, 1)

    def forward(self, x: torch.Tensor, token_padding: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T, C) tokens and (B, T) padding flags -> (B, T, C)."""
        if token_padding is not None:
            x = x.masked_fill(token_padding[..., None], 0.0)
        x = x + self.pos_conv(x.transpose(1, 2)).transpose(1, 2)
        if not self.config.layer_norm_first:
            x = self.layer_norm(x)
        bias = self.position_bias(x.shape[1], x.device)
        for layer in self.layers:
            x = layer(x, position_bias=bias, key_padding=token_padding)
        if self.config.layer_norm_first:
            x = self.layer_norm(x)
        return x


class BEATs(torch.nn.Module):
    """BEATs over normalised filterbanks; clip logits from the ``predictor`` when present.

    ``forward(fbank (B, F, 128), padding_mask (B, F) bool or None)`` returns
    the mean over a clip's tokens of the predictor's logits, (B, predictor_class)
    (the release applies a sigmoid to that mean; these are the values before
    it). Without a predictor (a pre-trained, not fine-tuned checkpoint) it
    returns the mean over tokens of the encoder output, (B, encoder_embed_dim).
    :meth:`features` gives the per-token encoder output (B, T, C).
    """

    def __init__(self, config: BEATsConfig):
        super().__init__()
        self.config = config
        self.patch_embedding = torch.nn.Conv2d(1, config.embed_dim, kernel_size=config.input_patch_size,
                                               stride=config.input_patch_size, bias=config.conv_bias)
        self.layer_norm = torch.nn.LayerNorm(config.embed_dim)
        if config.embed_dim != config.encoder_embed_dim:
            self.post_extract_proj = torch.nn.Linear(config.embed_dim, config.encoder_embed_dim)
        else:
            self.post_extract_proj = None
        self.encoder = Encoder(config)
        self.predictor = (torch.nn.Linear(config.encoder_embed_dim, config.predictor_class)
                          if config.finetuned_model else None)

    def token_padding(self, padding_mask: torch.Tensor, n_time: int, n_freq: int) -> torch.Tensor:
        """(B, F) frame padding -> (B, n_time * n_freq) token padding (a time patch with any padding frame)."""
        size = self.config.input_patch_size
        frames = padding_mask[:, : n_time * size].reshape(padding_mask.shape[0], n_time, size)
        return frames.any(dim=-1).repeat_interleave(n_freq, dim=1)

    def features(self, fbank: torch.Tensor, padding_mask: torch.Tensor | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Encoder output (B, T, C) and the token padding (B, T) bool, or None without a mask."""
        patches = self.patch_embedding(fbank.unsqueeze(1))  # (B, E, F // p, bins // p)
        n_time, n_freq = patches.shape[2], patches.shape[3]
        x = self.layer_norm(patches.flatten(2).transpose(1, 2))  # (B, T, E)
        if self.post_extract_proj is not None:
            x = self.post_extract_proj(x)
        tokens = None if padding_mask is None else self.token_padding(padding_mask, n_time, n_freq)
        return self.encoder(x, tokens), tokens

    def forward(self, fbank: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        x, tokens = self.features(fbank, padding_mask)
        out = self.predictor(x) if self.predictor is not None else x  # (B, T, K)
        if tokens is None:
            return out.mean(dim=1)
        keep = (~tokens).unsqueeze(-1).to(out.dtype)
        return (out * keep).sum(dim=1) / keep.sum(dim=1).clamp(min=1.0)
