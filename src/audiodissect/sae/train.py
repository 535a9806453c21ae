"""Training TopK and BatchTopK SAEs on any (rows, units) array, read in batches, and measuring them.

The trainer reads rows of a 2-D array (an ``np.memmap`` of recorded
activations, or anything that ``array[sorted row indices]`` reads) one batch
at a time, so the activations never need to fit in memory; it takes clip
rows today and frame rows alike.

Training (Gao et al. 2024, "Scaling and evaluating sparse autoencoders";
Bussmann et al. 2024, "BatchTopK sparse autoencoders"):

- inputs scaled by one factor so their mean squared norm is the unit count
  (``normalize``), folded into the weights at the end;
- ``b_dec`` starts at the training rows' mean, the decoder rows at random unit
  vectors, the encoder at the decoder's transpose;
- loss: squared reconstruction error summed over units, averaged over rows;
  ``topk`` keeps each row's k largest pre-activations, ``batchtopk`` the
  ``k x batch`` largest of the whole batch (its inference threshold is the
  moving average of the smallest kept activation);
- dead latents (none of the last ``dead_after_epochs`` epochs' rows made them
  fire): ``auxk`` adds the loss of the top ``aux_k`` dead latents
  reconstructing the error, weighted ``aux_coefficient``; ``resample``
  re-initialises them towards the residuals of badly reconstructed rows
  (picked with probability proportional to their squared loss), with the
  live latents' mean encoder norm so that they compete in the top-k again,
  and clears their Adam moments;
- decoder rows kept at unit norm (``unit_decoder``): the gradient's component
  along each row is removed before the step, the rows renormalised after.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..config import SaeConfig, validate
from ..errors import AudioDissectError
from ..progress import ProgressHook, silent
from .model import SaeSpec, SparseAutoencoder

#: Rows per block when a pass reads a whole array (statistics, evaluation).
BLOCK_ROWS = 2048


@dataclasses.dataclass
class Reconstruction:
    """How well an SAE reconstructs a set of rows.

    Attributes
    ----------
    rows : int
    fve : float
        Fraction of variance explained, ``1 - SSE / SST``, SST around the rows' own mean.
    mse : float
        Mean over rows of the squared error summed over units.
    l0 : float
        Mean number of active latents per row.
    dead : float
        Share of latents active on none of the rows.
    fired : np.ndarray, shape (d_sae,)
        Rows each latent is active on.
    """

    rows: int
    fve: float
    mse: float
    l0: float
    dead: float
    fired: np.ndarray | None = dataclasses.field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {"rows": self.rows, "fve": self.fve, "mse": self.mse, "l0": self.l0, "dead": self.dead}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Reconstruction:
        """Read back :meth:`to_json` (the per-latent counts are not stored)."""
        return cls(rows=int(data["rows"]), fve=float(data["fve"]), mse=float(data["mse"]), l0=float(data["l0"]),
                   dead=float(data["dead"]))


@dataclasses.dataclass
class TrainReport:
    """What training did and how well the result reconstructs.

    Attributes
    ----------
    settings : dict
        The training settings (:class:`~audiodissect.config.SaeConfig` fields used).
    d_in, d_sae, steps : int
    epochs : float
        Passes over the training rows.
    seconds : float
    scale : float
        The input scale the trainer used, folded into the weights.
    resampled : int
        Latents re-initialised (``dead_latents="resample"``).
    history : list of dict
        Per epoch: ``step``, ``loss``, ``mse`` (scaled space), ``dead`` share.
    train, heldout : Reconstruction
        On the training rows and on the held-out rows (None without any).
    """

    settings: dict[str, Any]
    d_in: int
    d_sae: int
    steps: int
    epochs: float
    seconds: float
    scale: float
    resampled: int
    history: list[dict[str, float]]
    train: Reconstruction
    heldout: Reconstruction | None

    def to_json(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["train"] = self.train.to_json()
        data["heldout"] = self.heldout.to_json() if self.heldout is not None else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainReport:
        """Read back :meth:`to_json`."""
        values = {f.name: data[f.name] for f in dataclasses.fields(cls)}
        values["train"] = Reconstruction.from_json(data["train"])
        values["heldout"] = Reconstruction.from_json(data["heldout"]) if data.get("heldout") else None
        return cls(**values)

    def summary(self) -> str:
        """One line: latents, sparsity and reconstruction quality."""
        held = self.heldout
        quality = f"held-out FVE {held.fve:.3f}, L0 {held.l0:.1f}" if held is not None else \
            f"training FVE {self.train.fve:.3f}, L0 {self.train.l0:.1f}"
        arch = self.settings.get("architecture", "topk")
        return (f"{self.d_sae} latents ({arch}, k={self.settings.get('k')}) on {self.d_in} units: {quality}, "
                f"dead {100 * self.train.dead:.1f} % (training rows), {self.steps} steps in {self.seconds:.1f} s")


def _rows(rows: Sequence[int] | np.ndarray | None, n: int, what: str) -> np.ndarray:
    if rows is None:
        return np.arange(n, dtype=np.int64)
    out = np.unique(np.asarray(rows, dtype=np.int64).reshape(-1))
    if out.size and (out[0] < 0 or out[-1] >= n):
        raise AudioDissectError(f"{what} rows must lie in 0..{n - 1}")
    return out


def read_rows(data: Any, rows: np.ndarray) -> np.ndarray:
    """``data[rows]`` as a float32 (len(rows), U) array (`rows` sorted: a memory map reads forward)."""
    return np.asarray(data[rows], dtype=np.float32)


def _moments(data: Any, rows: np.ndarray) -> tuple[np.ndarray, float]:
    """(mean row (U,), mean squared norm) over `rows`, in float64, one block at a time."""
    total = np.zeros(data.shape[1], dtype=np.float64)
    squares = 0.0
    for start in range(0, len(rows), BLOCK_ROWS):
        block = read_rows(data, rows[start:start + BLOCK_ROWS]).astype(np.float64)
        if not np.isfinite(block).all():
            raise AudioDissectError("the activations hold NaN or infinite values; an SAE cannot be trained on them")
        total += block.sum(axis=0)
        squares += float((block ** 2).sum())
    return total / len(rows), squares / len(rows)


@torch.no_grad()
def evaluate_sae(sae: SparseAutoencoder, data: Any, rows: Sequence[int] | np.ndarray | None = None, *,
                 device: str | torch.device | None = None) -> Reconstruction:
    """Reconstruction quality of `sae` on `rows` of `data`, read a block at a time.

    Parameters
    ----------
    sae : SparseAutoencoder
    data : array-like, shape (N, d_in)
        E.g. a memory-mapped ``activations/<layer>.npy``.
    rows : sequence of int, optional
        Default: every row.
    device : str or torch.device, optional
        Where the blocks are encoded (default: the SAE's device).

    Returns
    -------
    Reconstruction
    """
    if data.ndim != 2 or data.shape[1] != sae.d_in:
        raise AudioDissectError(f"the SAE reads {sae.d_in} units; the data has shape {tuple(data.shape)}")
    rows = _rows(rows, data.shape[0], "evaluation")
    if len(rows) == 0:
        raise AudioDissectError("no rows to evaluate the SAE on")
    dev = torch.device(device) if device is not None else sae.W_enc.device
    mean, squares = _moments(data, rows)
    sst = squares * len(rows) - float((mean ** 2).sum()) * len(rows)
    sse, active = 0.0, 0.0
    fired = torch.zeros(sae.d_sae, dtype=torch.int64, device=dev)
    for start in range(0, len(rows), BLOCK_ROWS):
        x = torch.from_numpy(read_rows(data, rows[start:start + BLOCK_ROWS])).to(dev)
        z = sae.encode(x)
        x_hat = sae.decode(z, x)
        sse += float((x - x_hat).double().pow(2).sum())
        on = z > 0
        active += float(on.sum())
        fired += on.sum(dim=0)
    fired_np = fired.cpu().numpy()
    fve = 1.0 - sse / sst if sst > 0 else float("nan")
    return Reconstruction(rows=int(len(rows)), fve=float(fve), mse=sse / len(rows), l0=active / len(rows),
                          dead=float(np.mean(fired_np == 0)), fired=fired_np)


def _batch_topk(pre: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the ``k x rows`` largest ReLU'd pre-activations of the whole batch (B, d_sae), zero the rest."""
    acts = pre.relu()
    flat = acts.flatten()
    count = min(k * acts.shape[0], flat.numel())
    values, indices = flat.topk(count)
    return torch.zeros_like(flat).scatter(0, indices, values).reshape(acts.shape)


def _init_weights(d_in: int, d_sae: int, mean: np.ndarray, scale: float,
                  generator: torch.Generator) -> dict[str, torch.Tensor]:
    W_dec = torch.randn(d_sae, d_in, generator=generator)
    W_dec = W_dec / W_dec.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return {"W_enc": W_dec.T.clone(), "b_enc": torch.zeros(d_sae), "W_dec": W_dec,
            "b_dec": torch.from_numpy((mean * scale).astype(np.float32))}


class _Resampler:
    """Re-initialises dead latents towards the residuals of badly reconstructed training rows."""

    def __init__(self, data: Any, rows: np.ndarray, scale: float, rng: np.random.Generator, sample: int = 4096):
        self.data, self.rows, self.scale, self.rng, self.sample = data, rows, scale, rng, sample

    @torch.no_grad()
    def __call__(self, sae: SparseAutoencoder, dead: torch.Tensor, optimizer: torch.optim.Optimizer,
                 activate) -> int:
        count = int(dead.sum())
        if count == 0:
            return 0
        picked = np.sort(self.rng.choice(self.rows, size=min(len(self.rows), self.sample), replace=False))
        x = torch.from_numpy(read_rows(self.data, picked)).to(sae.W_enc.device) * self.scale
        residual = x - (activate(sae.pre_activations(x)) @ sae.W_dec + sae.b_dec)
        weight = residual.pow(2).sum(-1).pow(2).double().cpu().numpy()
        if weight.sum() <= 0:
            return 0
        chosen = self.rng.choice(len(picked), size=count, replace=count > len(picked), p=weight / weight.sum())
        directions = residual[torch.from_numpy(chosen).to(residual.device)]
        directions = directions / directions.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        alive = ~dead
        enc_norm = float(sae.W_enc[:, alive].norm(dim=0).mean()) if bool(alive.any()) else 1.0
        sae.W_dec[dead] = directions
        sae.W_enc[:, dead] = directions.T * enc_norm
        sae.b_enc[dead] = 0.0
        for param, index in ((sae.W_dec, (dead,)), (sae.W_enc, (slice(None), dead)), (sae.b_enc, (dead,))):
            state = optimizer.state.get(param, {})
            for moment in ("exp_avg", "exp_avg_sq"):
                if moment in state:
                    state[moment][index] = 0.0
        return count


def train_sae(data: Any, config: SaeConfig | None = None, *, rows: Sequence[int] | np.ndarray | None = None,
              heldout_rows: Sequence[int] | np.ndarray | None = None, device: str | torch.device | None = None,
              metadata: dict[str, Any] | None = None, hook: ProgressHook | None = None,
              name: str = "sae") -> tuple[SparseAutoencoder, TrainReport]:
    """Train a TopK or BatchTopK SAE on rows of a (N, U) array, reading one batch of rows at a time.

    Parameters
    ----------
    data : array-like, shape (N, U)
        Float rows (e.g. a memory-mapped ``activations/<layer>.npy`` of N clips;
        frame-level rows fit the same way).
    config : SaeConfig, optional
        Architecture, sizes and optimisation (default settings when None).
    rows : sequence of int, optional
        The training rows (default: all).
    heldout_rows : sequence of int, optional
        Rows the result is measured on besides the training rows.
    device : str or torch.device, optional
        Default: ``config.device``, else CPU.
    metadata : dict, optional
        Stored in the SAE's spec (and its ``cfg.json``) besides the training settings.
    hook : ProgressHook, optional
        Called once per epoch as ``hook("sae", name, completed=step, total=steps)``.
    name : str
        What the progress names.

    Returns
    -------
    sae : SparseAutoencoder
        On CPU; ``topk`` or, for BatchTopK, ``jumprelu`` with one global threshold.
    report : TrainReport

    Raises
    ------
    AudioDissectError
        For data that is not 2-D, too few rows, k above the latent count, NaN
        values, or rows that are all zero.
    """
    cfg = validate(dataclasses.replace(config) if config is not None else SaeConfig())
    hook = hook or silent
    if getattr(data, "ndim", None) != 2:
        raise AudioDissectError(f"an SAE trains on a (rows, units) array, got shape {getattr(data, 'shape', None)}")
    n_all, d_in = (int(s) for s in data.shape)
    rows = _rows(rows, n_all, "training")
    if len(rows) < 2:
        raise AudioDissectError(f"an SAE needs at least 2 training rows, got {len(rows)}")
    d_sae = int(cfg.d_sae) if cfg.d_sae is not None else max(1, round(cfg.expansion_factor * d_in))
    if cfg.k > d_sae:
        raise AudioDissectError(f"k={cfg.k} active latents of {d_sae} latents", hint="lower k or add latents")
    dev = torch.device(device or cfg.device or "cpu")
    generator = torch.Generator().manual_seed(int(cfg.seed))
    rng = np.random.default_rng(int(cfg.seed))
    start_time = time.perf_counter()

    mean, squares = _moments(data, rows)
    if squares <= 0:
        raise AudioDissectError("the training rows are all zero: there is nothing to reconstruct")
    scale = math.sqrt(d_in / squares) if cfg.normalize else 1.0
    sae = SparseAutoencoder(SaeSpec(d_in=d_in, d_sae=d_sae, architecture="topk", k=int(cfg.k)))
    sae.load_weights(_init_weights(d_in, d_sae, mean, scale, generator))
    sae.to(dev).train()
    optimizer = torch.optim.Adam([sae.W_enc, sae.b_enc, sae.W_dec, sae.b_dec], lr=cfg.lr)

    batch = min(int(cfg.batch_size), len(rows))
    per_epoch = math.ceil(len(rows) / batch)
    total = int(cfg.steps) if cfg.steps is not None else int(cfg.epochs) * per_epoch
    window = max(1, round(cfg.dead_after_epochs * len(rows)))
    aux_k = min(int(cfg.aux_k) if cfg.aux_k is not None else max(1, d_in // 2), d_sae)
    batchtopk = cfg.architecture == "batchtopk"
    activate = (lambda pre: _batch_topk(pre, int(cfg.k))) if batchtopk else sae.activate
    resampler = _Resampler(data, rows, scale, rng) if cfg.dead_latents == "resample" else None
    resample_every = max(1, math.ceil(window / batch))
    since = torch.zeros(d_sae, dtype=torch.float64, device=dev)
    threshold: float | None = None
    history: list[dict[str, float]] = []
    sums = {"loss": 0.0, "mse": 0.0, "n": 0}
    resampled = 0
    order, position = rng.permutation(rows), 0
    for step in range(total):
        if position >= len(order):
            order, position = rng.permutation(rows), 0
        picked = np.sort(order[position:position + batch])
        position += batch
        x = torch.from_numpy(read_rows(data, picked)).to(dev) * scale
        pre = sae.pre_activations(x)
        z = activate(pre)
        error = x - (z @ sae.W_dec + sae.b_dec)
        mse = error.pow(2).sum(-1).mean()
        loss = mse
        with torch.no_grad():
            since += len(picked)
            since[(z > 0).any(dim=0)] = 0
            dead = since >= window
            if batchtopk:
                kept = z[z > 0]
                if kept.numel():
                    smallest = float(kept.min())
                    threshold = smallest if threshold is None else \
                        (1 - cfg.threshold_lr) * threshold + cfg.threshold_lr * smallest
        n_dead = int(dead.sum())
        if cfg.dead_latents == "auxk" and n_dead and cfg.aux_coefficient > 0:
            count = min(aux_k, n_dead)
            values, indices = pre.masked_fill(~dead, -torch.inf).topk(count, dim=-1)
            aux_z = torch.zeros_like(pre).scatter(-1, indices, values.relu())
            aux = (aux_z @ sae.W_dec - error.detach()).pow(2).sum(-1).mean()
            loss = loss + cfg.aux_coefficient * min(n_dead / aux_k, 1.0) * aux
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.unit_decoder:
            with torch.no_grad():
                grad = sae.W_dec.grad
                grad -= (grad * sae.W_dec).sum(dim=-1, keepdim=True) * sae.W_dec
        optimizer.step()
        if cfg.unit_decoder:
            with torch.no_grad():
                sae.W_dec /= sae.W_dec.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        if resampler is not None and (step + 1) % resample_every == 0 and n_dead:
            resampled += resampler(sae, dead, optimizer, activate)
            since[dead] = 0
        sums["loss"] += float(loss.detach())
        sums["mse"] += float(mse.detach())
        sums["n"] += 1
        if (step + 1) % per_epoch == 0 or step + 1 == total:
            history.append({"step": step + 1, "loss": sums["loss"] / sums["n"], "mse": sums["mse"] / sums["n"],
                            "dead": float(dead.double().mean())})
            sums = {"loss": 0.0, "mse": 0.0, "n": 0}
            hook("sae", name, completed=step + 1, total=total)

    weights = {key: value.detach().cpu() for key, value in sae.weights().items()}
    weights["W_enc"] = weights["W_enc"] * scale          # the input scale, folded in
    weights["W_dec"] = weights["W_dec"] / scale
    weights["b_dec"] = weights["b_dec"] / scale
    settings = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg) if f.name not in ("attached", "device")}
    meta = {**(metadata or {}), "training": settings}
    if batchtopk:
        weights["threshold"] = torch.full((d_sae,), float(threshold or 0.0))
        final = SparseAutoencoder(SaeSpec(d_in=d_in, d_sae=d_sae, architecture="jumprelu", metadata=meta))
    else:
        final = SparseAutoencoder(SaeSpec(d_in=d_in, d_sae=d_sae, architecture="topk", k=int(cfg.k), metadata=meta))
    final.load_weights(weights)
    final.requires_grad_(False).eval()
    train_quality = evaluate_sae(final, data, rows, device=dev)
    held = _rows(heldout_rows, n_all, "held-out") if heldout_rows is not None else np.zeros(0, dtype=np.int64)
    heldout_quality = evaluate_sae(final, data, held, device=dev) if len(held) else None
    final.to("cpu")
    report = TrainReport(settings=settings, d_in=d_in, d_sae=d_sae, steps=total, epochs=round(total / per_epoch, 3),
                         seconds=round(time.perf_counter() - start_time, 2), scale=scale, resampled=resampled,
                         history=history, train=train_quality, heldout=heldout_quality)
    return final, report
