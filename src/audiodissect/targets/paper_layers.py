"""The layers the paper dissects, by model family, as module-path patterns."""

from __future__ import annotations

import fnmatch

import torch

from ..errors import AudioDissectError

#: Per family, the patterns of the paper's layer set, in block order. AST: every block's attention-output,
#: intermediate and output dense layers and the classifier (transformers 5 names them o_proj, mlp.fc1 and
#: mlp.fc2; 4.x attention.output.dense, intermediate.dense and output.dense); BEATs: every block's fc1 and fc2.
PAPER_LAYERS = {
    "ast (transformers 5)": ["audio_spectrogram_transformer.layers.*.attention.o_proj",
                             "audio_spectrogram_transformer.layers.*.mlp.fc1",
                             "audio_spectrogram_transformer.layers.*.mlp.fc2", "classifier.dense"],
    "ast (transformers 4)": ["audio_spectrogram_transformer.encoder.layer.*.attention.output.dense",
                             "audio_spectrogram_transformer.encoder.layer.*.intermediate.dense",
                             "audio_spectrogram_transformer.encoder.layer.*[0-9].output.dense", "classifier.dense"],
    "beats": ["encoder.layers.*.fc1", "encoder.layers.*.fc2"],
}


def paper_layers(module: torch.nn.Module) -> list[str]:
    """The paper's layers of `module`: the exact paths, in the order the model registers them.

    Raises
    ------
    AudioDissectError
        When `module` is none of the families the paper dissects.
    """
    names = [n for n, _ in module.named_modules() if n]
    for family, patterns in PAPER_LAYERS.items():
        if all(any(fnmatch.fnmatchcase(n, p) for n in names) for p in patterns if p != "classifier.dense"):
            return [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns)]
    raise AudioDissectError("the paper's layer set is defined for AST and BEATs only",
                            hint="name the layers yourself (--layers), or drop the layer set")
