"""The target models by spec: ``demo-cnn``, ``yamnet``, ``hf:<id or path>``, ``beats:<checkpoint>``.

Only names live here (no model code is imported), so that a spec can be
checked before anything is loaded or generated; each factory imports its
model when called, as ``factory([argument, ]device=..., **options)``.
"""

from __future__ import annotations

from typing import Any

from ..errors import AudioDissectError
from ..registry import Registry, hub_reach


def _demo_cnn(*, device: str | None = None, **options: Any) -> Any:
    from .demo_train import demo_cnn_target

    return demo_cnn_target(device=device, **options)


def _yamnet(*, device: str | None = None, **options: Any) -> Any:
    if options:
        raise AudioDissectError(f"target 'yamnet' takes no options, got {', '.join(sorted(options))}")
    from .yamnet import yamnet_target

    return yamnet_target(device=device)


def check_options(target: str, options: dict[str, Any], accepted: tuple[str, ...]) -> None:
    """Refuse a model option the loader of `target` does not take, naming those it does."""
    if "trust_remote_code" in options:
        raise AudioDissectError(f"{target} does not run a model repository's own code (trust_remote_code)",
                                hint="load such a model yourself in Python (from_pretrained(..., "
                                     "trust_remote_code=True) once you have read its code) and dissect the module: "
                                     "Dissection(model, sample_rate=..., preprocess=...)")
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise AudioDissectError(f"{target} takes no option {', '.join(map(repr, unknown))}",
                                hint=f"its options: {', '.join(accepted) or 'none'}")


def _hf(source: str, *, device: str | None = None, **options: Any) -> Any:
    from .hf import hf_target

    check_options("hf:", options, ("local_files_only",))
    return hf_target(source, device=device, **options)


def _beats(path: str, *, device: str | None = None, **options: Any) -> Any:
    from .beats import beats_target

    check_options("beats:", options, ("class_map", "config", "class_names"))
    return beats_target(path, device=device, **options)


#: The target models by spec. ``TARGETS.register(name, factory)`` adds one;
#: the factory returns a :class:`~audiodissect.targets.base.Target`.
TARGETS: Registry[Any] = Registry("target model")
TARGETS.register("demo-cnn", _demo_cnn)
TARGETS.register("yamnet", _yamnet)
TARGETS.register("hf", _hf, argument="<model id or local path>", reach=hub_reach)
TARGETS.register("beats", _beats, argument="<checkpoint path>")


def is_target_spec(spec: str) -> bool:
    """Whether `spec` names a model that :func:`~audiodissect.targets.load_target` can load."""
    return TARGETS.accepts(spec)


def check_target_spec(spec: str) -> str:
    """`spec` stripped, or a clear error listing the valid names (no model is loaded)."""
    return TARGETS.check(spec)
