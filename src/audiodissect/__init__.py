"""audiodissect: explain what the hidden units of audio neural networks respond to.

An implementation of Audio Network Dissection (AND, Wu, Lin and Weng, ICML 2024)
and beyond: record unit activations over a probing set, name each unit's concept,
summarise what its most- and least-activating clips share, calibrate the
summary, extract open-vocabulary concepts, prune units to forget a concept,
score every explanation, and report it all.

The front door is :class:`Dissection`::

    import audiodissect as ad

    d = ad.Dissection("demo-cnn", probe="soundbank", out="runs/demo")
    acts = d.record(layers=["features.conv2", "classifier"])   # acts["features.conv2"]: (N, U)
    d.describe()
    units = d.identify()                                        # units.to_pandas()
    d.summarize()
    d.prune("trumpet").table
    d.report()                                                  # runs/demo/report/index.html
"""

__version__ = "0.1.0"

from typing import TYPE_CHECKING

from .lazy import lazy_exports

#: Where each public name lives: imported on first use (PEP 562), so that ``import audiodissect`` and
#: ``audiodissect --help`` do not pay for torch, scipy and the rest until a name that needs them is used.
_EXPORTS = {
    "RunConfig": "config", "load_config": "config",
    "Dissection": "dissection", "clips": "dissection",
    "AudioDissectError": "errors",
    "Export": "export", "read_export": "export",
    "load_probe": "probes",
    "ClipInfo": "probes.base", "ProbeSet": "probes.base",
    "ConceptRanking": "records", "ExplanationScore": "records", "LazyRecords": "records", "PruneRow": "records",
    "UnitName": "records", "UnitSummary": "records",
    "Activations": "results", "Analyses": "results", "Descriptions": "results", "Identification": "results",
    "PruneResult": "results", "TopClip": "results", "TopClips": "results", "UnitActivations": "results",
    "UnitRecords": "results",
    "StageOutcome": "stage",
    "Target": "targets", "from_module": "targets", "load_target": "targets",
    "tune_allocator": "allocator",
}

if TYPE_CHECKING:
    from .allocator import tune_allocator
    from .config import RunConfig, load_config
    from .dissection import Dissection, clips
    from .errors import AudioDissectError
    from .export import Export, read_export
    from .probes import load_probe
    from .probes.base import ClipInfo, ProbeSet
    from .records import ConceptRanking, ExplanationScore, LazyRecords, PruneRow, UnitName, UnitSummary
    from .results import (Activations, Analyses, Descriptions, Identification, PruneResult, TopClip, TopClips,
                          UnitActivations, UnitRecords)
    from .stage import StageOutcome
    from .targets import Target, from_module, load_target


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())


__all__ = [
    "Activations", "Analyses", "AudioDissectError", "ClipInfo", "ConceptRanking", "Descriptions", "Dissection",
    "Export", "ExplanationScore", "Identification", "LazyRecords", "ProbeSet", "PruneResult", "PruneRow", "RunConfig",
    "StageOutcome", "Target", "TopClip", "TopClips", "UnitActivations", "UnitName", "UnitRecords", "UnitSummary",
    "__version__", "clips", "from_module", "load_config", "load_probe", "load_target", "read_export",
    "tune_allocator",
]
