"""Sparse-autoencoder latents as units: train TopK / BatchTopK SAEs on recorded activations, read and
write SAELens's files, and attach an SAE to the model so that its latents are dissected, scored and pruned
like neurons.

>>> import audiodissect as ad                                              # doctest: +SKIP
>>> d = ad.Dissection.open("runs/default")                                 # doctest: +SKIP
>>> d.train_sae("fc", k=8, expansion_factor=4).report.heldout.fve          # doctest: +SKIP
>>> d.record(layers=[*d.run_dir.layers(), "sae:fc"])  # doctest: +SKIP
>>> d.identify()                                                           # doctest: +SKIP
"""

from .attach import (LatentHook, SaeContainer, attach_sae, attached_saes, detach_all, detach_sae, latent_name,
                     latent_path)
from .files import load_sae, save_sae, sae_config
from .model import ARCHITECTURES, SaeSpec, SparseAutoencoder
from .stage import SaeTraining, SaeTrainStage, attach_run_saes, import_sae, read_training
from .train import Reconstruction, TrainReport, evaluate_sae, train_sae

__all__ = [
    "ARCHITECTURES", "LatentHook", "Reconstruction", "SaeContainer", "SaeSpec", "SaeTrainStage", "SaeTraining",
    "SparseAutoencoder", "TrainReport", "attach_run_saes", "attach_sae", "attached_saes", "detach_all",
    "detach_sae", "evaluate_sae", "import_sae", "latent_name", "latent_path", "load_sae", "read_training",
    "sae_config", "save_sae", "train_sae",
]
