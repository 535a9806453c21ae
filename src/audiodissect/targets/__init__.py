"""Target models to dissect: YAMNet, a demo CNN, Hugging Face classifiers, or your own module."""

from .base import Target, move_to
from .logits import clip_logits
from .registry import from_module, load_target
from .specs import TARGETS, check_target_spec, is_target_spec

__all__ = [
    "TARGETS", "Target", "check_target_spec", "clip_logits", "from_module", "is_target_spec", "load_target", "move_to",
]
