import pytest

from audiodissect.class_names import class_index, class_names_lookup, concepts_of_classes, normalize_concept
from audiodissect.errors import AudioDissectError

AUDIOSET = ["Music", "Piano", "Violin, fiddle", "Marimba, xylophone", "Xylophone", "Bell, chime", "Chime, wind"]


def test_normalize_concept():
    assert normalize_concept("Crying_Baby  Sound") == "crying baby sound"
    assert normalize_concept("hi-hat") == "hi hat"


def test_synonyms_name_their_class_unless_shared_or_a_whole_name():
    lookup = class_names_lookup(AUDIOSET)
    assert lookup["violin"] == lookup["fiddle"] == lookup["violin, fiddle"] == 2
    assert lookup["xylophone"] == 4  # the whole name "Xylophone" wins over the synonym of class 3
    assert lookup["marimba"] == 3
    assert "chime" not in lookup  # shared by two classes: names neither
    assert class_index("Violin", AUDIOSET) == 2
    with pytest.raises(AudioDissectError, match="unknown class"):
        class_index("cello", AUDIOSET)


def test_concepts_of_classes_keeps_the_first_concept_per_class():
    assert concepts_of_classes(["piano", "violin", "fiddle", "cello", "music"], AUDIOSET) == {
        1: "piano", 2: "violin", 0: "music"}
