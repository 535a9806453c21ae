"""What a run directory may make this process do: read and write inside itself, nothing more.

A run directory is data: people share and download them, so its files are
treated like a downloaded file. Settings read from one (``config.json``,
the record section of ``manifest.json``, ``target.json``) are used to find
and name things, but a setting whose value reaches outside this process is
not followed unless the user says so in the call:

- code: a model factory (``target.json``'s ``factory``) is imported and called;
- the network: an LLM or captioner URL (prompts, the clips' audio and an API
  key go there), a Hugging Face hub id (a download), a Ray cluster to join.

The backend registries say what a spec reaches (:meth:`Registry.reach
<audiodissect.registry.Registry.reach>`); stages declare which settings
they would use (:meth:`Stage.reaches <audiodissect.stage.Stage.reaches>`)
and the runner checks them before a stage runs (a reused result needs no
backend, so it is never refused). A setting the user gives in the call (a
method argument, ``settings=``, a command-line flag) is the user's own, and
``Dissection.open(..., trust=True)`` (``--trust-run``) trusts the whole run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .errors import AudioDissectError

#: How a user gives each setting that can reach outside, for the refusal's hint.
GIVE_IT = {
    "summarize.llm": "--llm SPEC (Python: summarize(llm=...))",
    "describe.captioner": "--captioner SPEC (Python: describe(captioner=...))",
    "identify.tab_backend": "--tab-backend SPEC (Python: identify(tab_backend=...))",
    "identify.text_embedder": "--text-embedder SPEC (Python: settings={'identify': {'text_embedder': ...}})",
    "record.model": "the model (Python: Dissection.open(run, target=...))",
    "probe.name": "the probing set (Python: Dissection.open(run, probe=...))",
    "executor.ray_address": "--ray-address ADDR (Python: settings={'executor': {'ray_address': ...}})",
    "target.factory": "factory='package.module:function' (Python: Dissection.open(run, factory=...))",
}

#: Where in a run directory the untrusted settings come from.
CONFIG_FILE = "config.json"


class UntrustedRunError(AudioDissectError):
    """A run directory asked for something outside it (code, the network) that the user did not confirm."""


def setting_paths(node: Any, prefix: str = "") -> list[str]:
    """Every leaf setting of a config dataclass tree, as dotted paths (``summarize.llm``)."""
    paths = []
    for field in dataclasses.fields(node):
        value = getattr(node, field.name)
        name = f"{prefix}{field.name}"
        paths += setting_paths(value, name + ".") if dataclasses.is_dataclass(value) else [name]
    return paths


def given_paths(settings: Mapping[str, Any] | None, prefix: str = "") -> list[str]:
    """The dotted setting paths a nested dict of settings (``{"summarize": {"llm": ...}}``) gives."""
    paths = []
    for key, value in (settings or {}).items():
        name = f"{prefix}{key}"
        paths += given_paths(value, name + ".") if isinstance(value, Mapping) else [name]
    return paths


def lookup(config: Any, path: str) -> Any:
    """The value of the dotted setting `path` in a config tree (None when it does not exist)."""
    node = config
    for part in path.split("."):
        node = getattr(node, part, None)
    return node


@dataclasses.dataclass
class Trust:
    """Which settings came from a run directory on disk, and the check that keeps them inside it.

    Attributes
    ----------
    run : Path or None
        The run directory the untrusted settings were read from (None: everything
        came from this call).
    untrusted : dict of str to str
        Dotted setting path -> the run's file it was read from (``"summarize.llm"``
        -> ``"config.json"``); ``"target.factory"`` for ``target.json``'s factory.
    """

    run: Path | None = None
    untrusted: dict[str, str] = dataclasses.field(default_factory=dict)

    @classmethod
    def of_run(cls, run: Path, files: Mapping[str, Iterable[str]]) -> Trust:
        """Every setting in `files` ({run file: setting paths}) untrusted; later files win."""
        untrusted = {path: name for name, paths in files.items() for path in paths}
        return cls(run=Path(run), untrusted=untrusted)

    def give(self, paths: Iterable[str]) -> None:
        """The user gave these settings in this call: they are the user's own from now on.

        A section (``"summarize"``) gives every setting under it.
        """
        for path in paths:
            for key in [k for k in self.untrusted if k == path or k.startswith(path + ".")]:
                del self.untrusted[key]

    def is_given(self, path: str) -> bool:
        """Whether the setting `path` is the user's own (not read from the run directory)."""
        return path not in self.untrusted

    def require(self, path: str, value: Any, reach: str | None) -> None:
        """Refuse to follow the setting `path` (= `value`) outside this process when the run, not the user, set it.

        Parameters
        ----------
        path : str
            Dotted setting path (``"summarize.llm"``, ``"target.factory"``).
        value : object
            The setting's value, quoted in the message.
        reach : str or None
            What following it would do (``"sends every prompt ... to http://x/v1"``);
            None: nothing outside this process, never refused.

        Raises
        ------
        UntrustedRunError
            Naming the file that asked, the setting, what it would do, and how to allow it.
        """
        if reach is None or path not in self.untrusted:
            return
        where = self.run / self.untrusted[path] if self.run is not None else self.untrusted[path]
        give = GIVE_IT.get(path, f"the setting {path} in the call")
        raise UntrustedRunError(
            f"{where} sets {path} = {value!r}, which {reach}; settings read from a run directory are not "
            f"followed outside it (nothing was run or sent)",
            hint=f"if you mean it, give it yourself: {give}; or, if you trust whoever wrote this run, open it "
                 f"with --trust-run (Python: Dissection.open(run, trust=True))")

    def require_all(self, config: Any, reaches: Mapping[str, str | None]) -> None:
        """:meth:`require` for every ``{setting path: reach}`` of `reaches`, values read from `config`."""
        for path, reach in reaches.items():
            self.require(path, lookup(config, path), reach)
