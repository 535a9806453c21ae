"""Backends named by spec strings: ``name`` or ``name:argument``, one :class:`Registry` per family.

Each family of backends (similarity functions, evidence backends, captioners,
LLMs, text embedders, target models) keeps its names in one registry, next to
the backends themselves; the command line, the config help and the error
messages read the accepted forms from it, and user code registers a backend
of its own with :meth:`Registry.register`::

    >>> from audiodissect.registry import Registry
    >>> greeters = Registry("greeter")
    >>> _ = greeters.register("hello", lambda: "hello")
    >>> _ = greeters.register("echo", lambda text: text, argument="<text>")
    >>> greeters.build("echo:hi there"), greeters.help()
    ('hi there', 'hello, echo:<text>')

A spec is split at its first ``:``; the part before it names the entry. A
registry may have a fallback entry that takes every other spec whole (a
sentence-transformers model id, a local path).

An entry's factory (and any of its facts) may be a :class:`Lazy`, the import
path of the object: the registry then knows the entry's name, forms and facts
without importing its module (and what that imports: torch, scipy), which is
imported when the factory is first asked for::

    >>> _ = greeters.register("lazy", Lazy("operator:itemgetter"))
    >>> greeters.factories["lazy"] is __import__("operator").itemgetter
    True
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Generic, NamedTuple, TypeVar

from .errors import AudioDissectError, unknown_name_error

T = TypeVar("T")

#: Separates an entry's name from its argument in a spec.
SEPARATOR = ":"


class Lazy:
    """An object named by its import path, ``"package.module:attribute"``, imported when first asked for.

    A registry holds one in place of an entry's factory or of one of its facts
    (:attr:`Entry.meta`) and hands out the object itself; the module stays
    unimported until then.

    Parameters
    ----------
    path : str
        ``"package.module:attribute"``.

    Notes
    -----
    The stage runner derives a stage's code version from the import
    statements in the source (:func:`audiodissect.stage.code_version`), and
    an import path is none. So a module of this package that registers a
    lazy entry also imports the entry's module under ``if TYPE_CHECKING:``,
    where the runner reads it: an edited backend still changes the code
    version of every stage that can reach it.
    """

    __slots__ = ("path",)

    def __init__(self, path: str):
        module, separator, attribute = str(path).partition(":")
        if not (module and separator and attribute):
            raise AudioDissectError(f"a lazy import path is 'package.module:attribute', got {path!r}")
        self.path = str(path)

    def load(self) -> Any:
        """The object, its module imported first (once; later calls find it in :data:`sys.modules`)."""
        module, _, attribute = self.path.partition(":")
        return getattr(importlib.import_module(module), attribute)

    def __repr__(self) -> str:
        return f"Lazy({self.path!r})"


def loaded(value: Any) -> Any:
    """`value`, or the object a :class:`Lazy` `value` names (imported now)."""
    return value.load() if isinstance(value, Lazy) else value


class _Loaded(Mapping[str, Any]):
    """A read-only mapping whose :class:`Lazy` values are handed out as the objects they name."""

    def __init__(self, values: Mapping[str, Any], get: Callable[[Any], Any] = loaded):
        self._values, self._get = values, get

    def __getitem__(self, key: str) -> Any:
        return self._get(self._values[key])

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return repr(dict(self._values))


@dataclasses.dataclass(frozen=True, eq=False)
class Entry(Generic[T]):
    """One backend of a registry.

    Attributes
    ----------
    name : str
        The name a spec starts with (folded by the registry's `fold`); empty for a fallback.
    source : callable or Lazy
        The factory as registered (:attr:`factory` imports a :class:`Lazy` one).
    factory : callable
        Builds the backend: ``factory(*args, **options)`` for an entry without
        an argument, ``factory(argument, *args, **options)`` for one with
        (`argument` None when it is optional and not given; the whole spec for
        a fallback).
    argument : str or None
        How help texts show the argument (``"<path.gguf>"``); None: the entry takes none.
    optional : bool
        The name alone is accepted too.
    check : callable or None
        ``check(argument) -> bool``: whether a given argument is well formed.
    usage : str
        The entry's accepted form(s) in one line, for help texts.
    meta : mapping
        Facts about the backend that its callers read (e.g. ``remote``; ``reach``,
        see :meth:`Registry.reach`); a :class:`Lazy` fact is read as the object it names.
    """

    name: str
    source: Callable[..., T] | Lazy
    argument: str | None = None
    optional: bool = False
    check: Callable[[str], bool] | None = None
    usage: str = ""
    meta: Mapping[str, Any] = dataclasses.field(default_factory=lambda: MappingProxyType({}))

    @property
    def factory(self) -> Callable[..., T]:
        """The factory (a :class:`Lazy` one imported now)."""
        return loaded(self.source)


class Spec(NamedTuple, Generic[T]):
    """A parsed spec: its entry, its argument (None when absent) and the spec as given (stripped)."""

    entry: Entry[T]
    argument: str | None
    text: str

    def build(self, *args: Any, **options: Any) -> T:
        """The backend: the entry's factory called with the argument (if it takes one), `args` and `options`."""
        if self.entry.argument is None:
            return self.entry.factory(*args, **options)
        return self.entry.factory(self.argument, *args, **options)


def hub_reach(source: str | None) -> str | None:
    """The ``reach`` of a backend loading `source`: None for a folder on this machine, else the hub download."""
    if not source:
        return None
    if Path(source).expanduser().exists():
        return None
    return f"loads {source!r} from the Hugging Face hub (downloading it when it is not cached)"


def _usage(name: str, argument: str | None, optional: bool) -> str:
    if argument is None:
        return name
    return f"{name}[{SEPARATOR}{argument}]" if optional else f"{name}{SEPARATOR}{argument}"


class Registry(Generic[T]):
    """Backends of one family by name, and the parsing of their spec strings.

    Parameters
    ----------
    kind : str
        What the entries are, for messages (``"LLM"``, ``"text embedder"``).
    fold : callable, optional
        Normalises a name before it is looked up or registered (e.g. lower
        case); default: names are compared as given.

    Attributes
    ----------
    factories : mapping of str to callable
        A read-only, live view of every entry's factory by name, in
        registration order (reading a :class:`Lazy` one imports it).

    Notes
    -----
    ``spec in registry`` says whether :meth:`parse` takes `spec`;
    iterating gives the entries' names. An entry registered at run time
    lives in this process only: workers of another process (Ray) see the
    entries their own imports register.
    """

    def __init__(self, kind: str, *, fold: Callable[[str], str] | None = None):
        self.kind = kind
        self._fold = fold or (lambda name: name)
        self._entries: dict[str, Entry[T]] = {}
        self._aliases: dict[str, str] = {}
        self.factories: Mapping[str, Callable[..., T]] = _Loaded(self._entries, lambda entry: entry.factory)
        self._fallback: Entry[T] | None = None

    def register(self, name: str, factory: Callable[..., T] | Lazy, *, argument: str | None = None,
                 optional: bool = False, check: Callable[[str], bool] | None = None, usage: str | None = None,
                 aliases: Iterable[str] = (), replace: bool = False, **meta: Any) -> Entry[T]:
        """Add a backend called `name`; returns its :class:`Entry`.

        Parameters
        ----------
        name : str
            Without ``:``.
        factory : callable or Lazy
            See :attr:`Entry.factory`; a :class:`Lazy` one is imported when first needed.
        argument : str, optional
            How help texts show the argument (``"<hub id or folder>"``); without
            it the entry takes no argument.
        optional : bool
            With `argument`: the name alone is accepted too.
        check : callable, optional
            ``check(argument) -> bool`` for a given argument.
        usage : str, optional
            The form(s) in help texts (default: ``name``, ``name:<arg>`` or ``name[:<arg>]``).
        aliases : iterable of str
            Other names of the same entry.
        replace : bool
            Replace an entry of the same name instead of refusing.
        **meta
            Facts about the backend (:attr:`Entry.meta`); a :class:`Lazy` one is imported when first read.

        Raises
        ------
        AudioDissectError
            For an empty name, a name with ``:``, or a name taken (without `replace`).
        """
        key = self._key(name)
        keys = [key, *(self._key(a) for a in aliases)]
        for k in keys:
            if not k or SEPARATOR in k:
                raise AudioDissectError(f"cannot register {self.kind} {k!r}: a name is non-empty and has no "
                                        f"{SEPARATOR!r}")
            if not replace and (k in self._entries or k in self._aliases):
                raise AudioDissectError(f"{self.kind} {k!r} is registered already",
                                        hint="pass replace=True to replace it")
        if replace:
            for k in keys:
                if k in self._aliases:
                    self._aliases.pop(k)
                elif k in self._entries:
                    self.unregister(k)
        entry = Entry(name=key, source=factory, argument=argument, optional=optional and argument is not None,
                      check=check, usage=usage or _usage(key, argument, optional), meta=_Loaded(dict(meta)))
        self._entries[key] = entry
        self._aliases.update({alias: key for alias in keys[1:]})
        return entry

    def register_fallback(self, factory: Callable[..., T] | Lazy, *, usage: str, **meta: Any) -> Entry[T]:
        """Take every spec that names no entry whole: ``factory(spec, *args, **options)``.

        Parameters
        ----------
        factory : callable or Lazy
        usage : str
            The form in help texts (``"<sentence-transformers name or path>"``).
        **meta
            Facts about the backend (:attr:`Entry.meta`).
        """
        self._fallback = Entry(name="", source=factory, argument=usage, usage=usage, meta=_Loaded(dict(meta)))
        return self._fallback

    def unregister(self, name: str) -> None:
        """Remove the entry called `name` (or one of its aliases) and its aliases.

        Raises
        ------
        AudioDissectError
            For an unknown name.
        """
        key = self._aliases.get(self._key(name), self._key(name))
        if key not in self._entries:
            raise unknown_name_error(self.kind, str(name), self.names())
        del self._entries[key]
        for alias in [a for a, k in self._aliases.items() if k == key]:
            del self._aliases[alias]

    def parse(self, spec: str) -> Spec[T]:
        """The entry and argument of `spec`.

        Raises
        ------
        AudioDissectError
            For an unknown name (the message lists the closest names and the
            accepted forms), a missing or malformed argument, or an argument
            given to an entry that takes none.
        """
        text = str(spec).strip()
        name, separator, argument = text.partition(SEPARATOR)
        key = self._key(name.strip())
        key = self._aliases.get(key, key)
        entry = self._entries.get(key)
        if entry is None:
            if self._fallback is not None and text:
                return Spec(self._fallback, text, text)
            error = unknown_name_error(self.kind, text, self.names())
            raise AudioDissectError(error.message, hint="; ".join(
                h for h in (error.hint, "accepted: " + self.help()) if h))
        argument = argument.strip() or None
        if argument is not None and entry.argument is None:
            raise self._malformed(text, entry, f"{entry.name} takes no argument")
        if argument is None and entry.argument is not None and not entry.optional:
            raise self._malformed(text, entry, f"{entry.name} needs an argument")
        if argument is not None and entry.check is not None and not entry.check(argument):
            raise self._malformed(text, entry, f"{entry.argument} is malformed")
        return Spec(entry, argument, text)

    def build(self, spec: str, *args: Any, **options: Any) -> T:
        """The backend named by `spec`, built with `args` and `options` (see :attr:`Entry.factory`)."""
        return self.parse(spec).build(*args, **options)

    def reach(self, spec: str) -> str | None:
        """What building `spec`'s backend would do outside this process, or None when nothing.

        An entry declares it with its ``reach`` fact: a string, or a function of
        the argument returning one or None (``"sends every prompt to
        http://gpu:8000/v1"``, ``"downloads 'x/y' from the Hugging Face hub"``).
        Settings read from a run directory are not followed where this says
        something (:mod:`audiodissect.trust`).
        """
        parsed = self.parse(spec)
        what = parsed.entry.meta.get("reach")
        return what(parsed.argument) if callable(what) else what

    def check(self, spec: str) -> str:
        """`spec` stripped, or an :class:`AudioDissectError` saying what is wrong with it (nothing is built)."""
        return self.parse(spec).text

    def accepts(self, spec: str) -> bool:
        """Whether :meth:`parse` takes `spec`."""
        try:
            self.parse(spec)
        except AudioDissectError:
            return False
        return True

    def names(self) -> tuple[str, ...]:
        """The entries' names, in registration order (aliases left out)."""
        return tuple(self._entries)

    def forms(self) -> tuple[str, ...]:
        """Every accepted form, one per entry (the fallback's last), for help texts and errors."""
        forms = [e.usage for e in self._entries.values()]
        return tuple(forms + ([self._fallback.usage] if self._fallback is not None else []))

    def help(self) -> str:
        """The accepted forms in one line: ``"extractive, llamacpp[:<path.gguf>], ..."``."""
        return ", ".join(self.forms())

    def __getitem__(self, name: str) -> Entry[T]:
        key = self._key(name)
        try:
            return self._entries[self._aliases.get(key, key)]
        except KeyError:
            raise unknown_name_error(self.kind, str(name), self.names()) from None

    def __contains__(self, spec: object) -> bool:
        return isinstance(spec, str) and self.accepts(spec)

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {self.help()})"

    def _key(self, name: str) -> str:
        return self._fold(str(name).strip())

    def _malformed(self, text: str, entry: Entry[T], why: str) -> AudioDissectError:
        return AudioDissectError(f"malformed {self.kind} spec {text!r}: {why}",
                                 hint=f"write it as {entry.usage}")
