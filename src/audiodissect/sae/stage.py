"""SAEs in a run directory: the training stage, copying an SAE in, and attaching the run's SAEs to its model.

A run keeps the SAE of layer L in ``sae/<L>/`` (SAELens's ``cfg.json`` and
``sae_weights.safetensors``), with ``training.json`` when it was trained here
(:class:`SaeTrainStage`) or ``source.json`` when it was copied in
(:func:`import_sae`). The layers listed in the ``sae.attached`` setting have
their SAE attached to the run's model whenever the model is opened
(:func:`attach_run_saes`), so ``sae:<L>`` is one more layer to record.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..cache import hash_file, hash_key, read_json, write_json
from ..errors import AudioDissectError, unknown_name_error
from ..probes.base import HELDOUT, PROBE
from ..rundir import SAE_CFG, SAE_DIR, SAE_SOURCE, SAE_TRAINING, SAE_WEIGHTS, RunDir
from ..stage import Context, Stage, StageOutcome
from ..targets.base import Target
from .attach import ROOT, attach_sae, latent_path
from .files import OWN_KEY, load_sae, save_sae
from .model import SparseAutoencoder
from .train import TrainReport, train_sae

#: The settings of the ``sae`` section that change what training gives (the key's part).
_NOT_TRAINING = ("attached", "device")


@dataclasses.dataclass
class SaeTraining:
    """An SAE trained on one layer of a run.

    Attributes
    ----------
    layer : str
        The layer it reads.
    latents : str
        The module path of its latents once attached (``sae.<layer>``; ``sae:<layer>`` names it).
    folder : Path
        ``sae/<layer>/`` of the run, in SAELens's format.
    sae : SparseAutoencoder
    report : TrainReport
        Settings, history and reconstruction quality (``report.heldout.fve``, ``.l0``, ``.dead``).
    """

    layer: str
    latents: str
    folder: Path
    sae: SparseAutoencoder
    report: TrainReport

    def summary(self) -> str:
        """One line about the SAE (for the command line)."""
        return f"sae:{self.layer}: {self.report.summary()}"


def training_settings(config: Any) -> dict[str, Any]:
    """The fields of an :class:`~audiodissect.config.SaeConfig` that training depends on."""
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config) if f.name not in _NOT_TRAINING}


def split_rows(run: RunDir) -> tuple[np.ndarray, np.ndarray]:
    """(probe rows, held-out rows) of the run's clips, each (n,) int64."""
    splits = [c.split for c in run.clips()]
    return (np.array([i for i, s in enumerate(splits) if s == PROBE], dtype=np.int64),
            np.array([i for i, s in enumerate(splits) if s == HELDOUT], dtype=np.int64))


def read_training(run: RunDir, layer: str) -> SaeTraining:
    """The SAE of `layer` trained in `run`, read back from ``sae/<layer>/``."""
    path = run.file(SAE_TRAINING, layer=layer)
    if not path.exists():
        raise AudioDissectError(f"{run.path} holds no SAE trained on {layer!r}",
                                hint=f"train one: `audiodissect sae train --run {run.path} --layer {layer}`")
    folder = run.file(SAE_DIR, layer=layer)
    return SaeTraining(layer=layer, latents=latent_path(layer), folder=folder, sae=load_sae(folder),
                       report=TrainReport.from_json(read_json(path)))


class SaeTrainStage(Stage):
    """Train an SAE on one recorded layer's probe-clip activations; measure it on the held-out clips.

    Settings: the run's ``sae`` section (all but ``attached`` and ``device``
    enter the key, with the layer's recorded activations and the clips' splits).
    The manifest section is ``sae:<layer>``.
    """

    def __init__(self, layer: str):
        self.layer = layer
        self.name = f"sae:{layer}"  # type: ignore[misc]  # one manifest section per layer

    def output_paths(self, run: RunDir) -> list[Path]:
        return [run.file(name, layer=self.layer) for name in (SAE_CFG, SAE_WEIGHTS, SAE_TRAINING)]

    def inputs(self, ctx: Context) -> dict[str, Any]:
        run = ctx.run
        layers = run.layers()
        if self.layer not in layers:
            if self.layer.startswith(ROOT + "."):
                raise AudioDissectError(f"{self.layer!r} holds an SAE's latents; an SAE is trained on a model layer")
            raise unknown_name_error("recorded layer", self.layer, layers)
        probe, heldout = split_rows(run)
        return {"layer": self.layer, "activations": hash_file(run.activation_path(self.layer)),
                "splits": hash_key(probe.tolist(), heldout.tolist()),
                "settings": training_settings(ctx.config.sae)}

    def run(self, ctx: Context, key: str) -> tuple[dict[str, Any], SaeTraining]:
        run, cfg = ctx.run, ctx.config.sae
        probe, heldout = split_rows(run)
        record = run.stage("record")
        metadata = {"model_name": record.get("model"), "hook_name": self.layer,
                    OWN_KEY: {"layer": self.layer, "pool": record.get("pool", "mean"), "level": "clip",
                              "training_rows": int(len(probe)), "heldout_rows": int(len(heldout))}}
        sae, report = train_sae(run.activations(self.layer), cfg, rows=probe, heldout_rows=heldout,
                                device=cfg.device or ctx.config.record.device, metadata=metadata, hook=ctx.hook,
                                name=self.layer)
        folder = save_sae(sae, run.file(SAE_DIR, layer=self.layer))
        write_json(run.file(SAE_TRAINING, layer=self.layer), report.to_json())
        run.file(SAE_SOURCE, layer=self.layer).unlink(missing_ok=True)
        held = report.heldout
        facts = {"layer": self.layer, "d_sae": report.d_sae, "steps": report.steps,
                 "fve_train": round(report.train.fve, 4), "dead": round(report.train.dead, 4),
                 "fve_heldout": None if held is None else round(held.fve, 4),
                 "l0_heldout": None if held is None else round(held.l0, 3)}
        return facts, SaeTraining(self.layer, latent_path(self.layer), folder, sae, report)

    def load(self, ctx: Context) -> SaeTraining:
        return read_training(ctx.run, self.layer)

    def lines(self, ctx: Context, outcome: StageOutcome) -> list[str]:
        return [outcome.value.summary()] if outcome.value is not None else []


def import_sae(run: RunDir, layer: str, source: str | os.PathLike | SparseAutoencoder) -> SparseAutoencoder:
    """Copy an SAE into ``sae/<layer>/`` of `run` (SAELens's format); returns it.

    Parameters
    ----------
    run : RunDir
    layer : str
        The layer it reads; when the run recorded that layer, its unit count must be the SAE's ``d_in``.
    source : path or SparseAutoencoder
        A folder in SAELens's format (``cfg.json`` + ``sae_weights.safetensors``), or an SAE object.
    """
    sae = source if isinstance(source, SparseAutoencoder) else load_sae(source)
    if run.has_stage("record"):
        units = run.stage("record")["layers"].get(layer)
        if units is not None and int(units) != sae.d_in:
            raise AudioDissectError(f"layer {layer!r} has {units} units; the SAE reads {sae.d_in}")
    save_sae(sae, run.file(SAE_DIR, layer=layer))
    origin = "an object given in Python" if isinstance(source, SparseAutoencoder) else str(Path(source).resolve())
    write_json(run.file(SAE_SOURCE, layer=layer), {"source": origin})
    run.file(SAE_TRAINING, layer=layer).unlink(missing_ok=True)  # a training result no longer describes it
    return sae


def attach_run_saes(target: Target, run: RunDir, layers: list[str], *, pool: str) -> dict[str, str]:
    """Attach the SAE of each of `layers` (the run's ``sae/<layer>/``) to `target`'s model.

    `pool` is used for SAEs that do not say how their input was pooled (the
    ``audiodissect.pool`` of their metadata). Returns ``{layer: latent module path}``.
    """
    paths = {}
    for layer in layers:
        folder = run.file(SAE_DIR, layer=layer)
        if not run.file(SAE_CFG, layer=layer).exists():
            raise AudioDissectError(f"{run.path} lists an SAE on {layer!r} as attached but holds none in {folder}",
                                    hint=f"train one (`audiodissect sae train --run {run.path} --layer {layer}`) "
                                         "or attach one from a folder")
        sae = load_sae(folder)
        own = sae.spec.metadata.get(OWN_KEY)
        own = own if isinstance(own, dict) else {}
        paths[layer] = attach_sae(target.module, layer, sae, pool=str(own.get("pool") or pool),
                                  layouts=getattr(target, "layouts", None))
    return paths
