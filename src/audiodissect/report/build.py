"""``audiodissect report``: a static HTML report of whatever a run directory holds.

Layout under ``report/`` (or the chosen output folder)::

    index.html          overview, analyses, evaluation tables, the sortable unit table
    units/<unit>.html   detail pages (a configurable number per layer, best scored first)
    media/<clip>.wav    16-bit audio of each clip shown, written once and shared
    media/<clip>.png    mel-spectrogram thumbnail of each clip
    media/<moment>.*    a unit's moment: its snippet (WAV) and its activation over the clip (PNG)
    figures/*.png       the plots of ``audiodissect analyze`` and of the pruning evaluations

The pages open from disk: no server, no network resources.
"""

from __future__ import annotations

import logging
import math
import os
import re
import shutil
from pathlib import Path

from markupsafe import Markup

from ..cache import read_json, write_json, write_text
from ..config import ReportConfig
from ..errors import AudioDissectError
from ..probes.base import ProbeSet
from ..progress import ProgressHook, track
from ..rundir import ANALYSIS, PRUNING, REPORT_MARKER as RUN_REPORT_MARKER, RunDir
from . import media as media_files
from .collect import RunData, best_explanation_score, collect, extreme_clips, top_concept
from .moments import moment_sections
from .overview import index_page
from .unit import unit_page

log = logging.getLogger("audiodissect")

#: Analysis plots copied into the report, by their key in ``analysis/summary.json``.
#: The file that marks a folder as this report's (the pages it wrote); nothing else in a folder is touched.
REPORT_MARKER = Path(RUN_REPORT_MARKER).name
FIGURE_KEYS = ("adjective_counts_png", "adjectives_by_layer_png", "uninterpretable_png", "last_layer_png")
#: The only names the marker may list: unit pages, as :func:`~audiodissect.report.media.slug` names them.
PAGE_NAME = re.compile(r"units/[A-Za-z0-9_-][A-Za-z0-9._-]*\.html")


def _finite(value: float | None) -> float:
    return value if value is not None and math.isfinite(value) else -math.inf


def detail_units(data: RunData, *, per_layer: int) -> list[str]:
    """Units that get a detail page: up to `per_layer` per layer, best first.

    Priority: units with a summary first, then by their best explanation score,
    then by the score of their top concept under the preferred identify method,
    then by index.
    """
    method = data.methods[0] if data.methods else None
    chosen = []
    for layer, n in data.layers.items():
        ids = [f"{layer}#{i}" for i in range(n)]

        def priority(uid: str) -> tuple:
            concept = top_concept(data, uid, method) if method else None
            return (uid in data.summaries, _finite(best_explanation_score(data, uid)),
                    _finite(concept[1] if concept else None))

        ranked = sorted(range(n), key=lambda i: priority(ids[i]), reverse=True)  # stable: ties keep index order
        chosen.extend(ids[i] for i in ranked[:max(0, per_layer)])
    return chosen


def _figures(data: RunData, out: Path) -> dict[str, str]:
    """Copy the analysis and pruning plots into ``figures/``; returns ``{key: href}``.

    Pruning plots get the keys ``importance_<ranking>_png`` (``importance_all_png``
    for every curve) and ``class_drop_png``.
    """
    run = RunDir(data.path)
    sources: dict[str, Path] = {}  # names read from the run's JSON: plain .png names in their folder only
    for section in (data.analysis or {}).values():
        if isinstance(section, dict):
            sources.update({key: run.file(ANALYSIS) / str(name) for key, name in (section.get("files") or {}).items()
                            if key in FIGURE_KEYS and _plain_png(name)})
    for key, name in ((data.importance or {}).get("files") or {}).items():
        if _plain_png(name):
            sources[f"importance_{key}_png"] = run.file(PRUNING) / str(name)
    class_drop_png = ((data.class_drop or {}).get("files") or {}).get("png")
    if class_drop_png and _plain_png(class_drop_png):
        sources["class_drop_png"] = run.file(PRUNING) / str(class_drop_png)
    found: dict[str, str] = {}
    for key, src in sources.items():
        if src.is_file() and not src.is_symlink():
            dst = out / "figures" / src.name
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
            found[key] = f"figures/{src.name}"
    return found


def _plain_png(name: object) -> bool:
    """Whether `name` (read from the run's JSON) is a plain ``.png`` file name, no folder in it."""
    return isinstance(name, str) and bool(re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9._-]*\.png", name))


def _write_media(data: RunData, run: RunDir, clip_ids: list[str], out: Path, probe: ProbeSet | None,
                 hook: ProgressHook | None, notes: list[str], *, reopen: bool = True) -> dict[str, tuple[str, str]]:
    """Write audio and spectrograms of `clip_ids`; returns ``{clip_id: (wav href, png href)}`` from unit pages."""
    if not clip_ids:
        return {}
    probe = _media_probe(run, probe, notes, reopen=reopen)
    if probe is None:
        return {}
    positions = {c.id: i for i, c in enumerate(probe.clips)}
    rate = int((data.record or {}).get("sample_rate") or getattr(probe, "sample_rate", 16000))
    media_dir = out / "media"
    result: dict[str, tuple[str, str]] = {}
    failed = []
    for cid in track(clip_ids, "report", hook=hook, artefact="clip media"):
        if cid not in positions:
            failed.append(cid)
            continue
        try:
            wav, png = media_files.clip_media(media_dir, cid)
            if not (wav.exists() and png.exists()):
                media_files.write_clip_media(media_dir, cid, probe.audio(positions[cid], sample_rate=rate), rate)
        except Exception as exc:  # one unreadable file must not sink the whole report
            log.warning("no media for clip %s: %s", cid, exc)
            failed.append(cid)
            continue
        result[cid] = (f"../media/{wav.name}", f"../media/{png.name}")
    if failed:
        notes.append(f"{len(failed)} clips have no audio in this report (unreadable or not in the probing set), "
                     f"e.g. {failed[0]}.")
    return result


def _media_probe(run: RunDir, probe: ProbeSet | None, notes: list[str], *, reopen: bool) -> ProbeSet | None:
    """The probing set the report reads audio from: `probe`, else the run's reopened when `reopen`; None (with a
    note) when there is none."""
    if probe is not None:
        return probe
    if not reopen:
        notes.append("Audio players and spectrograms are left out: the probing set was not opened.")
        return None
    try:
        from ..probes.reopen import reopen_probe

        return reopen_probe(run.stage("record")["probe"], [c.id for c in run.clips()])
    except Exception as exc:  # data moved, a loader missing, the set changed: report without audio
        notes.append(f"Audio players and spectrograms are left out: the probing set could not be "
                     f"reopened ({exc}).")
        return None


def build_report(run: RunDir | str | os.PathLike, settings: ReportConfig | None = None, *,
                 probe: ProbeSet | None = None, hook: ProgressHook | None = None, reopen: bool = True) -> Path:
    """Write the static HTML report of a run directory into its ``report/`` folder.

    Parameters
    ----------
    run : RunDir or path
    settings : ReportConfig, optional
        ``units_per_layer`` detail pages per layer (the unit table lists every
        unit) and ``table_limit`` rows the unit table shows at once (filtering
        reaches the others); default: the defaults.
    probe : ProbeSet, optional
        The probing set, for audio players and spectrograms; reopened from the
        run's record section when None and `reopen` (the report says so if
        that fails).
    hook : ProgressHook, optional
    reopen : bool
        Reopen the probing set the run names when `probe` is None (a trusted
        run's own; the stage passes False and gives the probe it may open).

    Returns
    -------
    Path
        The written ``report/index.html``.
    """
    run = run if isinstance(run, RunDir) else RunDir(run, create=False)
    settings = settings or ReportConfig()
    units_per_layer, table_limit = settings.units_per_layer, settings.table_limit
    out = run.report_dir
    previous = _previous_pages(out)
    out.mkdir(parents=True, exist_ok=True)
    data = collect(run)
    notes: list[str] = []
    if data.record is None:
        notes.append("Nothing was recorded in this run yet: run `audiodissect record` (or `audiodissect run`).")
    chosen = detail_units(data, per_layer=units_per_layer)
    planned = {uid: f"units/{media_files.slug(uid)}.html" for uid in chosen}
    # the folder is claimed before anything is written into it: a build cut short (Ctrl-C, SIGKILL) is
    # recognised as this report's by the next one, which finishes it and removes what it left
    write_json(out / REPORT_MARKER, {"pages": sorted(previous | set(planned.values())), "run": str(run.path)})
    clips = extreme_clips(data, run, chosen)
    needed = list(dict.fromkeys(cid for u in chosen for part in ("top", "bottom")
                                for cid, _ in clips.get(u, {}).get(part, [])))
    probe = _media_probe(run, probe, notes, reopen=reopen) if needed else probe
    media = _write_media(data, run, needed, out, probe, hook, notes, reopen=False) if probe is not None else {}
    moments = moment_sections(run, chosen, out / "media", probe, k=settings.moments,
                              snippet_seconds=settings.snippet_seconds,
                              sample_rate=int((data.record or {}).get("sample_rate") or 16000))
    pages: dict[str, str] = {}
    for uid in chosen:
        write_text(out / planned[uid], unit_page(data, uid, clips=clips.get(uid), media=media,
                                                 index_href="../index.html", moments=moments.get(uid, Markup())))
        pages[uid] = planned[uid]
    figures = _figures(data, out)
    index = out / "index.html"
    write_text(index, index_page(data, pages=pages, figures=figures, notes=notes, limit=table_limit))
    for old in previous - set(pages.values()):  # pages of an earlier build of this report, no longer linked
        (out / old).unlink(missing_ok=True)  # checked by _previous_pages: a unit page inside out/units
    write_json(out / REPORT_MARKER, {"pages": sorted(pages.values()), "run": str(run.path)})
    media_files.remove_stray_temporaries(out / "media")
    return index


def _previous_pages(out: Path) -> set[str]:
    """The unit pages an earlier build wrote into `out`; refuses a folder that holds something else.

    Raises
    ------
    AudioDissectError
        When `out` is a non-empty folder without this report's marker file: the
        report never overwrites or deletes files it did not write.
    """
    if out.is_symlink():
        raise AudioDissectError(f"{out} is a symbolic link; the report is not written through one",
                                hint="remove the link (the report folder is the run's own)")
    if not out.exists():
        return set()
    marker = out / REPORT_MARKER
    if marker.is_file():
        return _listed_pages(marker)
    if any(out.iterdir()):
        raise AudioDissectError(f"{out} is not empty and holds no audiodissect report",
                                hint=f"the report is written into the run's own folder {out}: move its files "
                                     "elsewhere or remove it, then build the report again (nothing was written)")
    return set()


def _listed_pages(marker: Path) -> set[str]:
    """The pages a report marker lists, keeping only unit pages of this report (``units/<slug>.html``).

    The marker is read from the run directory, which may come from anyone: an
    entry that names anything else (``../``, an absolute path, another folder)
    is logged and left alone, never deleted.
    """
    try:
        listed = read_json(marker).get("pages", [])
    except (ValueError, AttributeError, UnicodeDecodeError) as exc:
        raise AudioDissectError(f"{marker} is not a report marker ({exc})",
                                hint="remove the report folder and build the report again") from None
    pages, refused = set(), []
    for page in listed if isinstance(listed, list) else []:
        if isinstance(page, str) and PAGE_NAME.fullmatch(page):
            pages.add(page)
        else:
            refused.append(page)
    if refused:
        log.warning("%s lists %d entries that are not this report's unit pages (e.g. %r); they are left alone",
                    marker, len(refused), refused[0])
    return pages
