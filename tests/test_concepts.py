import logging

import pytest

from audiodissect.identify.concepts import clean_concepts, load_concepts
from audiodissect.errors import AudioDissectError


def test_load_concepts(tmp_path, caplog):
    path = tmp_path / "c.txt"
    path.write_text("dog_bark\n\n  church  bells \nrain\ndog bark\nrain\n   \n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="audiodissect.identify.concepts"):
        assert load_concepts(path) == ["dog bark", "church bells", "rain"]
    assert "2 blank line(s) and 2 duplicate concept(s); 3 concepts kept" in caplog.text


def test_clean_concepts_without_noise_is_silent(caplog):
    with caplog.at_level(logging.WARNING):
        assert clean_concepts(["a", "b_c"]) == ["a", "b c"]
    assert caplog.text == ""


def test_empty_and_missing(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_text("\n \n_\n", encoding="utf-8")
    with pytest.raises(AudioDissectError, match="holds no concepts"):
        load_concepts(path)
    with pytest.raises(AudioDissectError, match="does not exist"):
        load_concepts(tmp_path / "nope.txt")
