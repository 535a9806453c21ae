"""A notebook session, cell by cell: tables, class names, activation statistics, new clips' activations,
top clips with audio players, and the HTML views a notebook shows."""

import importlib.util
import re

import numpy as np
import pandas as pd
import pytest
import soundfile

import audiodissect as ad
from audiodissect.errors import AudioDissectError
from audiodissect.progress import silent
from stage_fixtures import CLASSES, make_target, tiny_probe, write_descriptions


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    root = tmp_path_factory.mktemp("notebook")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AUDIODISSECT_CACHE", str(root / "cache"))
        probe = tiny_probe()
        d = ad.Dissection(make_target(), probe, out=root / "run", hook=silent)
        acts = d.record(["conv", "classifier"])
        write_descriptions(root / "descriptions.json", probe)
        d.import_descriptions(root / "descriptions.json")
        units = d.identify(methods=["db"], similarities=["cos", "cos3"])
        yield {"d": d, "acts": acts, "units": units, "probe": probe, "root": root}


def test_tables_wide_and_long_with_classes_and_statistics(session):
    d, acts, units = session["d"], session["acts"], session["units"]
    # cell: activations know the classes of the output units
    assert acts.class_names == CLASSES and acts.output_layer == "classifier"
    assert acts.unit_classes == {f"classifier#{i}": c for i, c in enumerate(CLASSES)}
    assert acts.to_pandas("classifier").attrs["classes"]["classifier#1"] == "speech"
    # cell: per-unit activation statistics over the probe clips
    stats = acts.stats()
    assert list(stats.columns) == ["unit", "layer", "index", "class", "mean", "std", "max", "min", "sparsity"]
    probe_rows = acts.probe_rows
    conv = np.asarray(acts["conv"])[probe_rows]
    u = int(np.argmax(conv.std(axis=0)))  # a unit that varies
    row = stats[stats.unit == f"conv#{u}"].iloc[0]
    assert row["mean"] == pytest.approx(conv[:, u].mean(), rel=1e-6) and row["max"] == pytest.approx(conv[:, u].max())
    assert row["sparsity"] == pytest.approx((conv[:, u] <= 0).mean()) and pd.isna(row["class"])
    assert stats[stats.unit == "classifier#2"].iloc[0]["class"] == "trumpet"
    # cell: the long table has top-1 and class columns; the wide one a row per unit
    long = units.to_pandas()
    assert {"top1", "class", "name", "status"} <= set(long.columns)
    assert (long.top1 == long.concepts.str[0]).all()
    wide = units.to_pandas(wide=True)
    assert list(wide.columns[:6]) == ["unit", "name", "status", "class", "layer", "index"]
    assert list(wide.columns[6:8]) == ["db/cos", "db/cos3"] and units.columns() == ["db/cos", "db/cos3"]
    assert len(wide) == 7 and wide.unit.tolist() == [f"conv#{i}" for i in range(4)] + \
        [f"classifier#{i}" for i in range(3)]
    first = {r.unit: r.concepts[0] for r in units if r.similarity == "cos3"}
    assert wide.set_index("unit")["db/cos3"].to_dict() == first
    assert wide.set_index("unit").loc["classifier#0", "class"] == "organ"
    assert wide.set_index("unit").loc[f"conv#{u}", "sparsity"] == pytest.approx(row["sparsity"])
    assert "mean" not in units.to_pandas(wide=True, stats=False)


def test_activations_for_new_audio_match_the_recording(session, tmp_path):
    d, acts, probe = session["d"], session["acts"], session["probe"]
    before = sorted(p.relative_to(d.path) for p in d.path.rglob("*"))
    # cell: the probe's own clips through activations_for give the recorded rows
    waves = [probe.audio(i, sample_rate=16000) for i in range(3)]
    new = d.activations_for(waves, ["conv#1", "classifier"])
    assert new.units == ["conv#1", "classifier#0", "classifier#1", "classifier#2"]
    np.testing.assert_allclose(new["conv#1"], np.asarray(acts["conv"])[:3, 1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(new.values[:, 1:], np.asarray(acts["classifier"])[:3], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(new.logits, acts.logits()[:3], rtol=1e-5, atol=1e-6)
    assert new.classes == {"classifier#0": "organ", "classifier#1": "speech", "classifier#2": "trumpet"}
    frame = new.to_pandas()
    assert frame.shape == (3, 4) and frame.index.tolist() == ["clip0", "clip1", "clip2"]
    # cell: a file at another rate, and one waveform at another rate
    path = tmp_path / "new clip.flac"
    soundfile.write(path, waves[0][::2], 8000)
    from_file = d.activations_for(path, "conv#1")
    half = d.activations_for(waves[0][::2], "conv#1", sample_rate=8000)
    assert from_file.clips == ["new clip.flac"] and from_file.values.shape == (1, 1)
    np.testing.assert_allclose(from_file.values, half.values, rtol=1e-4, atol=1e-5)
    # every recorded layer by default; nothing written into the run
    assert d.activations_for(waves[:1]).values.shape == (1, 7)
    assert sorted(p.relative_to(d.path) for p in d.path.rglob("*")) == before
    with pytest.raises(AudioDissectError, match="has 4 units"):
        d.activations_for(waves[:1], "conv#9")


def test_top_clips_with_audio_players(session):
    d, acts, probe = session["d"], session["acts"], session["probe"]
    top = d.top_clips("classifier#2", k=3)
    values = np.asarray(acts["classifier"])[acts.probe_rows, 2]
    assert [c.activation for c in top] == pytest.approx(sorted(values, reverse=True)[:3])
    assert [c.rank for c in top] == [1, 2, 3] and top.class_name == "trumpet"
    assert all(c.description and c.clip.split == "probe" for c in top)
    np.testing.assert_allclose(top[0].audio, probe.audio(top[0].row, sample_rate=16000))
    bottom = d.top_clips("classifier#2", k=2, bottom=True)
    assert bottom[0].activation == pytest.approx(values.min()) and bottom.bottom
    html = top._repr_html_()
    assert html.count("<audio controls") == 3 and "data:audio/wav;base64," in html and "trumpet" in html
    assert list(top.to_pandas().columns) == ["unit", "rank", "clip", "label", "split", "activation", "description",
                                              "path"]
    if importlib.util.find_spec("IPython") is None:  # optional: a clear message without it
        with pytest.raises(AudioDissectError, match="need IPython") as err:
            top.players()
        assert "pip install ipython" in err.value.hint
    else:
        player = top[0].player()
        assert type(player).__name__ == "Audio" and player.rate == 16000


def test_html_views_escape_and_summarise(session):
    d, acts, units = session["d"], session["acts"], session["units"]
    assert "7 units in 2 layers" in acts._repr_html_() and "3 classes" in acts._repr_html_()
    view = units._repr_html_()
    assert "Identification: 7 units" in view and "db/cos3" in view
    record = units[0]._repr_html_()
    assert "ConceptRanking conv#0" in record and "<table>" in record
    assert "run directory" in d._repr_html_() and "identify" in d._repr_html_()
    descriptions = d.describe()._repr_html_()
    assert "Descriptions of 18 clips" in descriptions
    # texts are escaped
    from audiodissect.htmlrepr import table

    assert "<script>" not in table([{"x": "<script>alert(1)</script>"}])
    assert re.search(r"\.\.\. and 5 more rows", table([{"x": i} for i in range(25)]))


def test_wide_table_finds_its_columns_once_not_once_per_unit(monkeypatch):
    """The wide table of U units with R rankings each looks up O(U R) ranking columns, not O(U^2 R) (on
    YAMNet's 23,433 units the latter would take hours)."""
    import audiodissect.results as results
    from audiodissect.records import ConceptRanking

    records = [ConceptRanking(unit=f"fc#{u}", layer="fc", index=u, method=method, similarity=sim,
                              concepts=[f"c{u}", "other"], scores=[1.0, 0.5])
               for u in range(40) for method, sim in (("tab", "cos"), ("db", None))]
    calls = []
    column = results.ranking_key
    monkeypatch.setattr(results, "ranking_key", lambda r: calls.append(1) or column(r))
    rows = results.Identification("identify", records).wide_rows(stats=False)
    assert len(calls) <= 2 * len(records)  # once for the columns, once per ranking's own cell
    assert rows[7] == {"unit": "fc#7", "name": None, "status": None, "layer": "fc", "index": 7,
                       "tab/cos": "c7", "db": "c7"}


def test_unit_and_name_lookups_read_the_records_once():
    """Asking for every unit in turn groups the records once (a scan per call is quadratic in the units)."""
    from audiodissect.records import ConceptRanking, UnitName
    from audiodissect.results import Identification

    class CountedList(list):
        iterations = 0

        def __iter__(self):
            CountedList.iterations += 1
            return super().__iter__()

    records = CountedList(ConceptRanking(unit=f"fc#{u}", layer="fc", index=u, method=method, similarity="cos",
                                         concepts=[f"c{u}"], scores=[1.0])
                          for u in range(30) for method in ("tab", "db"))
    names = CountedList(UnitName(unit=f"fc#{u}", layer="fc", index=u, similarity="cos", candidates={}, name=None,
                                 status="unexplained") for u in range(30))
    units = Identification("identify", records, names=names)
    CountedList.iterations = 0
    assert [[r.method for r in units.unit(f"fc#{u}")] for u in range(30)] == [["tab", "db"]] * 30
    assert units.unit("fc#99") == [] and units.unit("fc#3") is not units.unit("fc#3")  # a fresh list each call
    assert [units.name_of(f"fc#{u}").index for u in range(30)] == list(range(30))
    assert CountedList.iterations == 2  # the rankings once, the names once
    with pytest.raises(AudioDissectError, match="fc#99"):
        units.name_of("fc#99")
