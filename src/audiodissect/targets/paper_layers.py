"""The layers the paper dissects, by model family, as module-path patterns."""

from __future__ import annotations

import fnmatch

import torch

from ..errors import AudioDissectError

#: Per family, the patterns of the paper's layer set, in block order. AST: every block's attention-output,
#: intermediate and output dense layers and the classifier (transformers 5 names them o_proj, mlp.fc1 and
#: mlp.fc2; 4.x attention.output.dense, intermediate.dense and output.dense); BEATs: every block's fc1 and fc2
#: and the classification head (the release's ``predictor``; the paper authors' ``fc``), whose units the
#: paper's last-layer table (Table 2) names.
PAPER_LAYERS = {
    "ast (transformers 5)": ["audio_spectrogram_transformer.layers.*.attention.o_proj",
                             "audio_spectrogram_transformer.layers.*.mlp.fc1",
                             "audio_spectrogram_transformer.layers.*.mlp.fc2", "classifier.dense"],
    "ast (transformers 4)": ["audio_spectrogram_transformer.encoder.layer.*.attention.output.dense",
                             "audio_spectrogram_transformer.encoder.layer.*.intermediate.dense",
                             "audio_spectrogram_transformer.encoder.layer.*[0-9].output.dense", "classifier.dense"],
    "beats": ["encoder.layers.*.fc1", "encoder.layers.*.fc2", "predictor"],
}
#: The classification heads of the families: in the layer set when the model has one (a pre-trained BEATs
#: has none), and its output layer (the paper pools the head's first token, which differs from the logits, the
#: mean over the tokens).
HEADS = ("classifier.dense", "predictor")


def paper_layers(module: torch.nn.Module) -> list[str]:
    """The paper's layers of `module`: the exact paths, in the order the model registers them.

    Raises
    ------
    AudioDissectError
        When `module` is none of the families the paper dissects.
    """
    names = [n for n, _ in module.named_modules() if n]
    for family, patterns in PAPER_LAYERS.items():
        if all(any(fnmatch.fnmatchcase(n, p) for n in names) for p in patterns if p not in HEADS):
            return [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns)]
    raise AudioDissectError("the paper's layer set is defined for AST and BEATs only",
                            hint="name the layers yourself (--layers), or drop the layer set")


def paper_head(layers: list[str]) -> str | None:
    """The classification head among the paper's `layers` (:data:`HEADS`), or None."""
    return next((name for name in layers if name in HEADS), None)
