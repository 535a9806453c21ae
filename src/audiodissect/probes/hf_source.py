"""Opening a Hugging Face ``datasets`` data set for a probing set, without decoding its audio.

The ``datasets`` package is optional (the ``hf`` extra) and imported only
here, when a ``hf-dataset:`` probing set is loaded. Audio columns are cast
to ``Audio(decode=False)``, so that the raw bytes (or the file path) of each
clip come back and :mod:`audiodissect.probes.decode` decodes them with
soundfile; neither torchcodec nor ffmpeg is needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import AudioDissectError

EXTRA_HINT = "install the optional extra: pip install 'audiodissect[hf]' (or pip install datasets)"


def import_datasets() -> Any:
    """The ``datasets`` module, or a clear error naming the extra that provides it."""
    try:
        import datasets
    except ImportError:
        raise AudioDissectError("the hf-dataset probing set needs the `datasets` package", hint=EXTRA_HINT) from None
    return datasets


def is_local(source: str) -> bool:
    """Whether `source` names a folder on this machine rather than a hub id."""
    return Path(source).expanduser().exists() or source.startswith(("/", ".", "~")) or "\\" in source


def open_dataset(source: str, *, split: str, config: str | None = None, revision: str | None = None) -> Any:
    """The ``datasets.Dataset`` of `split` in `source`.

    Parameters
    ----------
    source : str
        A folder written by ``Dataset.save_to_disk`` or ``DatasetDict.save_to_disk``,
        or a hub id (``"owner/name"``, read with ``datasets.load_dataset``, which
        needs the network the first time).
    split : str
        The split of a DatasetDict or of a hub data set. A folder holding a
        single saved Dataset is used whole, whatever `split` says.
    config : str, optional
        The hub data set's configuration name.
    revision : str, optional
        The hub data set's revision (branch, tag or commit).

    Raises
    ------
    AudioDissectError
        When ``datasets`` is missing, the folder is not a saved data set, the
        split does not exist (naming the splits there are), or the hub
        cannot be reached.
    """
    datasets = import_datasets()
    if is_local(source):
        folder = Path(source).expanduser()
        if not folder.exists():
            raise AudioDissectError(f"{folder} does not exist",
                                    hint="give a folder written by save_to_disk, or a hub id such as owner/name")
        if config is not None or revision is not None:
            raise AudioDissectError("config and revision apply to hub data sets, not to a local folder",
                                    hint=f"leave them out for {folder}")
        try:
            data = datasets.load_from_disk(str(folder))
        except (FileNotFoundError, ValueError) as exc:
            raise AudioDissectError(f"{folder} is not a data set saved with save_to_disk ({exc})",
                                    hint="save it with Dataset.save_to_disk or DatasetDict.save_to_disk") from None
        if isinstance(data, datasets.DatasetDict):
            if split not in data:
                raise AudioDissectError(f"{folder} has no split {split!r}",
                                        hint="its splits: " + ", ".join(data) + "; choose one with split=NAME")
            return data[split]
        return data
    try:
        return datasets.load_dataset(source, name=config, split=split, revision=revision)
    except Exception as exc:  # the hub client raises many types (connection, missing repo, bad split)
        raise AudioDissectError(f"cannot load {source!r} (split {split!r}) from the Hugging Face hub: {exc}",
                                hint="check the id, split and network, or save the data set with save_to_disk "
                                     "and give its folder") from None


def require_column(dataset: Any, column: str, *, option: str, where: str) -> None:
    """An error naming the available columns when `column` is not one of them."""
    if column not in dataset.column_names:
        raise AudioDissectError(f"{where} has no column {column!r} ({option})",
                                hint="its columns: " + ", ".join(dataset.column_names))


def raw_audio_column(dataset: Any, column: str, *, where: str) -> Any:
    """`dataset` with only `column`, as ``{"bytes", "path"}`` cells (or path strings), undecoded.

    Raises
    ------
    AudioDissectError
        When `column` holds neither audio, nor bytes/path records, nor file paths.
    """
    datasets = import_datasets()
    feature = dataset.features[column]
    audio_only = dataset.select_columns([column])
    if isinstance(feature, datasets.Audio):
        return audio_only.cast_column(column, datasets.Audio(decode=False))
    if isinstance(feature, dict) and {"bytes", "path"} <= set(feature):
        return audio_only
    if isinstance(feature, datasets.Value) and feature.dtype in ("string", "large_string"):
        return audio_only
    audio = [name for name, f in dataset.features.items() if isinstance(f, datasets.Audio)]
    raise AudioDissectError(f"the column {column!r} of {where} does not hold audio (its type: {feature})",
                            hint=f"audio columns: {', '.join(audio) or 'none'}; choose one with audio_column=NAME")


def label_names(dataset: Any, column: str, *, where: str) -> list[str | None]:
    """Each row's label in `column` as a string: a ClassLabel's name, or the value itself.

    Returns
    -------
    list of (str or None), one per row
        None where the row has no label (None, an empty string, or a
        ClassLabel's -1).

    Raises
    ------
    AudioDissectError
        When the column holds lists or records (several labels per row).
    """
    datasets = import_datasets()
    feature = dataset.features[column]
    if not isinstance(feature, (datasets.ClassLabel, datasets.Value)):
        raise AudioDissectError(f"the column {column!r} of {where} does not hold one label per row "
                                f"(its type: {feature})",
                                hint="choose a column of class labels or strings with label_column=NAME")
    values = dataset.select_columns([column]).to_dict()[column]
    if isinstance(feature, datasets.ClassLabel):
        names = feature.names
        return [names[v] if v is not None and 0 <= v < len(names) else None for v in values]
    return [None if v is None or str(v).strip() == "" else str(v).strip() for v in values]


def scalar_columns(dataset: Any, *, exclude: set[str]) -> dict[str, list[Any]]:
    """The columns of plain values (numbers, strings, booleans, class labels) other than `exclude`, by name."""
    datasets = import_datasets()
    keep = [name for name, f in dataset.features.items() if name not in exclude
            and (isinstance(f, datasets.ClassLabel)
                 or (isinstance(f, datasets.Value) and f.dtype not in ("binary", "large_binary")))]
    if not keep:
        return {}
    table = dataset.select_columns(keep).to_dict()
    for name in keep:
        feature = dataset.features[name]
        if isinstance(feature, datasets.ClassLabel):
            table[name] = [feature.names[v] if v is not None and 0 <= v < len(feature.names) else None
                           for v in table[name]]
        elif feature.dtype.startswith(("timestamp", "date", "time", "duration", "decimal")):
            table[name] = [None if v is None else str(v) for v in table[name]]
    return table
