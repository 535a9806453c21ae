"""A sparse autoencoder over a layer's unit vectors, with SAELens's parameters and inference rules.

Parameters (SAELens's names and shapes)::

    W_enc      (d_in, d_sae)   encoder
    b_enc      (d_sae,)        encoder bias
    W_dec      (d_sae, d_in)   decoder: row i is latent i's direction
    b_dec      (d_in,)         decoder bias, subtracted from the input first when apply_b_dec_to_input
    threshold  (d_sae,)        JumpReLU only

Encoding ``x`` (..., d_in): optionally normalise ``x`` (``normalize_activations``),
subtract ``b_dec`` (``apply_b_dec_to_input``), ``pre = x @ W_enc + b_enc``, then

- ``topk``: keep the ``k`` largest pre-activations of each row, ReLU them, zero
  the rest (with ``rescale_acts_by_decoder_norm``, pre-activations are first
  multiplied by the decoder rows' norms and latents divided by them before decoding);
- ``jumprelu``: ``relu(pre) * (pre > threshold)`` (how SAELens stores BatchTopK SAEs:
  one global threshold repeated per latent);
- ``standard``: ``relu(pre)``.

Decoding ``z`` (..., d_sae): ``z @ W_dec + b_dec``, un-normalised. The module's
``forward`` returns the *latents*, so that forward hooks on it (recording,
ablation) see one unit per latent.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from ..errors import AudioDissectError, unknown_name_error

#: Inference rules this module implements (SAELens's ``architecture`` names).
ARCHITECTURES = ("topk", "jumprelu", "standard")
#: Input normalisations this module applies at run time (SAELens's ``normalize_activations`` values).
NORMALIZATIONS = ("none", "constant_norm_rescale", "layer_norm")
_LN_EPS = 1e-5


@dataclasses.dataclass
class SaeSpec:
    """What defines an SAE besides its weights (the fields of SAELens's ``cfg.json`` this module reads).

    Attributes
    ----------
    d_in : int
        Units of the layer it reads.
    d_sae : int
        Latents.
    architecture : {"topk", "jumprelu", "standard"}
    k : int or None
        Latents kept per row (``topk`` only).
    apply_b_dec_to_input : bool
    normalize_activations : {"none", "constant_norm_rescale", "layer_norm"}
    rescale_acts_by_decoder_norm : bool
        ``topk`` only.
    metadata : dict
        Free-form facts (the layer it reads, how its input was pooled, how it was trained).
    """

    d_in: int
    d_sae: int
    architecture: str = "topk"
    k: int | None = None
    apply_b_dec_to_input: bool = True
    normalize_activations: str = "none"
    rescale_acts_by_decoder_norm: bool = False
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)

    def check(self) -> SaeSpec:
        """`self`, or an :class:`AudioDissectError` naming the first bad field."""
        if self.architecture not in ARCHITECTURES:
            raise unknown_name_error("SAE architecture", str(self.architecture), ARCHITECTURES)
        if self.normalize_activations not in NORMALIZATIONS:
            raise AudioDissectError(f"SAE input normalisation {self.normalize_activations!r} is not supported",
                                    hint="supported: " + ", ".join(NORMALIZATIONS) + " (fold a constant scaling "
                                         "factor into the weights first)")
        if int(self.d_in) < 1 or int(self.d_sae) < 1:
            raise AudioDissectError(f"an SAE needs d_in and d_sae of at least 1, got {self.d_in} and {self.d_sae}")
        if self.architecture == "topk":
            if self.k is None or not 1 <= int(self.k) <= int(self.d_sae):
                raise AudioDissectError(f"a TopK SAE needs 1 <= k <= d_sae ({self.d_sae}), got k={self.k}")
        return self

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """The parameters' shapes by SAELens's names (``threshold`` for JumpReLU only)."""
        d_in, d_sae = int(self.d_in), int(self.d_sae)
        shapes = {"W_enc": (d_in, d_sae), "b_enc": (d_sae,), "W_dec": (d_sae, d_in), "b_dec": (d_in,)}
        if self.architecture == "jumprelu":
            shapes["threshold"] = (d_sae,)
        return shapes


class SparseAutoencoder(torch.nn.Module):
    """An SAE whose forward pass returns its latents, (..., d_in) -> (..., d_sae).

    Parameters
    ----------
    spec : SaeSpec
        Sizes and inference rule; the parameters start at zero (load or train them).

    Attributes
    ----------
    channel_axis : int
        -1: the latents lie on the last axis of the output (how recording finds the units).
    latent_host : str or None
        The module path of the layer it reads, once attached to a model
        (:func:`audiodissect.sae.attach_sae`).

    Examples
    --------
    An SAE whose dictionary is the identity reproduces its input's two largest entries:

    >>> import torch
    >>> sae = SparseAutoencoder.from_weights(torch.eye(3), torch.zeros(3), torch.eye(3), torch.zeros(3), k=2)
    >>> sae(torch.tensor([[3.0, 1.0, 2.0]]))
    tensor([[3., 0., 2.]])
    """

    channel_axis = -1

    def __init__(self, spec: SaeSpec):
        super().__init__()
        self.spec = spec.check()
        d_in, d_sae = int(spec.d_in), int(spec.d_sae)
        self.W_enc = torch.nn.Parameter(torch.zeros(d_in, d_sae))
        self.b_enc = torch.nn.Parameter(torch.zeros(d_sae))
        self.W_dec = torch.nn.Parameter(torch.zeros(d_sae, d_in))
        self.b_dec = torch.nn.Parameter(torch.zeros(d_in))
        if spec.architecture == "jumprelu":
            self.threshold = torch.nn.Parameter(torch.zeros(d_sae))
        self.latent_host: str | None = None
        self._clean: torch.Tensor | None = None

    @classmethod
    def from_weights(cls, W_enc: torch.Tensor, b_enc: torch.Tensor, W_dec: torch.Tensor, b_dec: torch.Tensor, *,
                     architecture: str = "topk", k: int | None = None, threshold: torch.Tensor | None = None,
                     **spec: Any) -> SparseAutoencoder:
        """An SAE with the given weights (shapes as in the module docstring); `spec` sets the other fields."""
        d_in, d_sae = W_enc.shape
        sae = cls(SaeSpec(d_in=int(d_in), d_sae=int(d_sae), architecture=architecture, k=k, **spec))
        weights = {"W_enc": W_enc, "b_enc": b_enc, "W_dec": W_dec, "b_dec": b_dec}
        if architecture == "jumprelu":
            if threshold is None:
                raise AudioDissectError("a JumpReLU SAE needs its threshold")
            weights["threshold"] = threshold
        sae.load_weights(weights)
        return sae

    # -- sizes ----------------------------------------------------------------
    @property
    def d_in(self) -> int:
        return int(self.spec.d_in)

    @property
    def d_sae(self) -> int:
        return int(self.spec.d_sae)

    @property
    def out_features(self) -> int:
        """Latents (the unit count pruning checks indices against)."""
        return self.d_sae

    def weights(self) -> dict[str, torch.Tensor]:
        """The parameters by SAELens's names, detached."""
        return {name: p.detach() for name, p in self.named_parameters(recurse=False)}

    def load_weights(self, weights: dict[str, torch.Tensor]) -> None:
        """Copy `weights` (SAELens's names) in, checking that every parameter is given with its shape."""
        own = dict(self.named_parameters(recurse=False))
        missing = sorted(set(own) - set(weights))
        extra = sorted(set(weights) - set(own))
        if missing or extra:
            raise AudioDissectError(f"{self.spec.architecture} SAE weights: missing {missing or 'none'}, "
                                    f"unexpected {extra or 'none'}")
        with torch.no_grad():
            for name, param in own.items():
                value = torch.as_tensor(weights[name])
                if tuple(value.shape) != tuple(param.shape):
                    raise AudioDissectError(f"SAE weight {name} has shape {tuple(value.shape)}, "
                                            f"expected {tuple(param.shape)}")
                param.copy_(value.to(param.dtype))

    # -- the maps ---------------------------------------------------------------
    def _check_input(self, x: torch.Tensor) -> None:
        if x.shape[-1] != self.d_in:
            where = f" on layer {self.latent_host!r}" if self.latent_host else ""
            raise AudioDissectError(f"the SAE{where} reads {self.d_in} units, got an input with {x.shape[-1]}")

    def output_scale(self, x: torch.Tensor) -> torch.Tensor | float:
        """What the decoder's output is multiplied by to undo the input normalisation: (..., 1) or 1."""
        norm = self.spec.normalize_activations
        if norm == "constant_norm_rescale":
            return x.norm(dim=-1, keepdim=True) / self.d_in ** 0.5
        if norm == "layer_norm":
            return x.std(dim=-1, keepdim=True)
        return 1.0

    def _normalize(self, x: torch.Tensor) -> torch.Tensor:
        norm = self.spec.normalize_activations
        if norm == "constant_norm_rescale":
            return x * (self.d_in ** 0.5 / x.norm(dim=-1, keepdim=True))
        if norm == "layer_norm":
            centred = x - x.mean(dim=-1, keepdim=True)
            return centred / (x.std(dim=-1, keepdim=True) + _LN_EPS)
        return x

    def _denormalize(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        norm = self.spec.normalize_activations
        if norm == "layer_norm":
            return out * x.std(dim=-1, keepdim=True) + x.mean(dim=-1, keepdim=True)
        if norm == "constant_norm_rescale":
            return out * self.output_scale(x)
        return out

    def pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (..., d_in) -> pre-activations (..., d_sae), before the sparsifying nonlinearity."""
        self._check_input(x)
        x = self._normalize(x.to(self.W_enc.dtype))
        if self.spec.apply_b_dec_to_input:
            x = x - self.b_dec
        pre = x @ self.W_enc + self.b_enc
        if self.spec.architecture == "topk" and self.spec.rescale_acts_by_decoder_norm:
            pre = pre * self.W_dec.norm(dim=-1)
        return pre

    def activate(self, pre: torch.Tensor) -> torch.Tensor:
        """The architecture's nonlinearity: pre-activations (..., d_sae) -> latents (..., d_sae)."""
        arch = self.spec.architecture
        if arch == "topk":
            values, indices = pre.topk(int(self.spec.k), dim=-1)
            return torch.zeros_like(pre).scatter(-1, indices, values.relu())
        if arch == "jumprelu":
            return pre.relu() * (pre > self.threshold).to(pre.dtype)
        return pre.relu()

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Latents (..., d_sae) of inputs `x` (..., d_in)."""
        return self.activate(self.pre_activations(x))

    def directions(self, z: torch.Tensor) -> torch.Tensor:
        """``z @ W_dec`` in the normalised space (decoder-norm rescaling applied), without the bias."""
        if self.spec.architecture == "topk" and self.spec.rescale_acts_by_decoder_norm:
            z = z / self.W_dec.norm(dim=-1)
        return z @ self.W_dec

    def decode(self, z: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
        """Reconstruction (..., d_in) from latents `z`; `x` (the input) is needed to undo a per-row normalisation."""
        out = self.directions(z) + self.b_dec
        if self.spec.normalize_activations != "none":
            if x is None:
                raise AudioDissectError("decoding this SAE's latents needs their input (per-row normalisation)")
            out = self._denormalize(out, x)
        return out

    def contribution(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """What latents `z` (..., d_sae) add to the reconstruction of input `x` (..., d_in), in the input's space.

        Linear in `z`: removing latent i changes the reconstruction by
        ``-contribution(z * e_i, x)`` = ``-z_i W_dec[i]`` (un-normalised).
        """
        scale = self.output_scale(x)
        return self.directions(z) * scale

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """``decode(encode(x))``: the SAE's reconstruction of `x` (..., d_in)."""
        return self.decode(self.encode(x), x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Latents (..., d_sae) of `x` (..., d_in); forward hooks on this module see (and may replace) them."""
        z = self.encode(x)
        self._clean = z
        return z

    def take_clean(self) -> torch.Tensor | None:
        """The latents the last forward pass computed before any forward hook replaced them (then forgotten)."""
        z, self._clean = self._clean, None
        return z

    def extra_repr(self) -> str:
        k = f", k={self.spec.k}" if self.spec.architecture == "topk" else ""
        host = f", layer={self.latent_host!r}" if self.latent_host else ""
        return f"{self.spec.architecture}, d_in={self.d_in}, d_sae={self.d_sae}{k}{host}"
