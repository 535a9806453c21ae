"""Target models to dissect: YAMNet, a demo CNN, Hugging Face classifiers, or your own module."""

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

#: Where each public name lives: imported on first use (PEP 562), so that the model specs (help texts,
#: settings) cost no torch.
_EXPORTS = {
    "Target": "base", "move_to": "base",
    "clip_logits": "logits",
    "from_module": "registry", "load_target": "registry",
    "TARGETS": "specs", "check_target_spec": "specs", "is_target_spec": "specs",
}

if TYPE_CHECKING:
    from .base import Target, move_to
    from .logits import clip_logits
    from .registry import from_module, load_target
    from .specs import TARGETS, check_target_spec, is_target_spec


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())


__all__ = [
    "TARGETS", "Target", "check_target_spec", "clip_logits", "from_module", "is_target_spec", "load_target", "move_to",
]
