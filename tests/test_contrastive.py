"""Contrastive summaries, content calibration and the acoustic default concepts."""

from __future__ import annotations

import numpy as np
import pytest

from audiodissect.errors import AudioDissectError
from audiodissect.summarize.extractive import NOTHING_SHARED, ExtractiveLLM, contrast_summary
from audiodissect.summarize.prompts import (contrastive_summary_prompt, read_contrastive_summary_prompt,
                                          read_summary_prompt)
from audiodissect.summarize.calibration import (CalibrationSettings, calibrate_content, calibrate_summaries,
                                                strike_terms)
from audiodissect.summarize.summaries import SummarySettings, summarize_clip_sets, summary_prompts

TRUMPET = ("Sounds of trumpet and brass instrument. A loud, high-pitched, bright, tonal, sustained sound "
           "with steady onsets and a sharp attack.")
PIANO = ("Sounds of piano. A loud, mid-pitched, warm, tonal, sustained sound with steady onsets and a "
         "sharp attack.")


def test_contrastive_prompt_exact_and_read_back():
    prompt = contrastive_summary_prompt(["a dog\nbarks", "a dog"], ["rain"])
    assert prompt == (
        "Below are descriptions of two sets of audio clips, one per line: the clips that activate a unit most "
        "and the clips that activate it least. In two or three short sentences, say what most of the most "
        "activating clips have in common that the least activating clips lack: the sound sources, and the tone, "
        "pitch, loudness, brightness, noisiness and rhythm that set them apart. "
        "Do not mention what both sets share, and do not mention individual clips.\n"
        "\n"
        "Descriptions of the most activating clips:\n"
        "- a dog barks\n"
        "- a dog\n"
        "\n"
        "Descriptions of the least activating clips:\n"
        "- rain")
    assert read_contrastive_summary_prompt(prompt) == (["a dog barks", "a dog"], ["rain"], {})
    assert read_summary_prompt(prompt) is None
    with_base = contrastive_summary_prompt(["a dog"], ["rain"], {"music": 0.62, "loud": 0.3})
    assert with_base.split("\n")[0].endswith("of the differences, name first those that are rare in the "
                                              "probing set.")
    assert with_base.endswith("- rain\n\nCommon in the whole probing set (share of all clips):\n- music: 62 %\n"
                              "- loud: 30 %")
    assert read_contrastive_summary_prompt(with_base) == (["a dog"], ["rain"], {"music": 0.62, "loud": 0.3})
    assert read_contrastive_summary_prompt("Clip descriptions:\n- x") is None
    with pytest.raises(AudioDissectError):
        contrastive_summary_prompt("one string", ["x"])


def test_contrast_names_only_what_sets_the_top_apart():
    top = [TRUMPET] * 4 + [PIANO]
    bottom = [PIANO] * 5
    assert contrast_summary(top, bottom) == ("Unlike the other clips, most of these feature trumpet and brass "
                                             "instrument. These clips sound high-pitched and bright.")
    assert contrast_summary(bottom, top) == ("Unlike the other clips, most of these feature piano. "
                                             "These clips sound mid-pitched and warm.")
    assert contrast_summary([PIANO] * 3, [PIANO] * 3) == NOTHING_SHARED
    answer = ExtractiveLLM().complete([contrastive_summary_prompt(top, bottom)])[0]
    assert answer == contrast_summary(top, bottom)


def test_contrast_says_what_is_rare_in_the_probing_set_first():
    top = [TRUMPET] * 4 + [PIANO]
    bottom = [PIANO] * 5
    # both set the top apart (gap 0.8); "high-pitched" is common in the probing set, so "bright" comes first
    common = {"high-pitched": 0.5, "tonal": 0.9}
    assert contrast_summary(top, bottom, common, max_qualities=1) == (
        "Unlike the other clips, most of these feature trumpet and brass instrument. Most of these clips sound bright.")
    assert contrast_summary(top, bottom, max_qualities=1) == (
        "Unlike the other clips, most of these feature trumpet and brass instrument. Most of these clips sound high-pitched.")
    # the base rate orders, it does not filter: both are still said when there is room
    assert contrast_summary(top, bottom, common).endswith("These clips sound bright and high-pitched.")
    assert contrast_summary(top, bottom).endswith("These clips sound high-pitched and bright.")
    answer = ExtractiveLLM().complete([contrastive_summary_prompt(top, bottom, common)])[0]
    assert answer == contrast_summary(top, bottom, common, max_qualities=3)


def test_common_terms_are_the_probing_sets_frequent_terms_with_their_shares():
    from audiodissect.summarize.extractive import common_terms

    descriptions = [TRUMPET, PIANO, PIANO, "Sounds of rain. A quiet, noisy sound."]
    common = common_terms(descriptions, min_share=0.5)
    assert common["piano"] == 0.5 and common["tonal"] == 0.75 and common["loud"] == 0.75
    assert "trumpet" not in common and "rain" not in common
    assert list(common)[:2] == sorted(list(common)[:2])  # ties in alphabetical order
    assert len(common_terms(descriptions, min_share=0.5, limit=2)) == 2


def test_summary_prompts_are_the_prompt_functions_own_from_lines_made_once():
    """summary_prompts lists each description's line made once: the same text as the prompt functions build."""
    from audiodissect.summarize.extractive import common_terms
    from audiodissect.summarize.prompts import summary_prompt

    descriptions = ["a dog\n barks  twice", "rain\ton a roof", "  wind ", "a piano"]
    top, bottom = np.array([[0, 1], [3, 2]]), np.array([[2, 3], [0, 1]])
    high, low = summary_prompts(top, bottom, descriptions, contrastive=True, share_sets=False)
    base = common_terms(descriptions)
    for u in range(2):
        t, b = [descriptions[i] for i in top[u]], [descriptions[i] for i in bottom[u]]
        assert (high[u], low[u]) == (contrastive_summary_prompt(t, b, base), contrastive_summary_prompt(b, t, base))
    high, low = summary_prompts(top, bottom, descriptions, share_sets=False)
    assert high == [summary_prompt([descriptions[i] for i in row]) for row in top]
    assert low == [summary_prompt([descriptions[i] for i in row]) for row in bottom]
    assert "- a dog barks twice\n" in high[0]


def test_summary_prompts_contrastive_pairs_top_and_bottom():
    descriptions = [TRUMPET, PIANO, "rain", "wind"]
    top, bottom = np.array([[0, 2]]), np.array([[1, 3]])
    high, low = summary_prompts(top, bottom, descriptions, contrastive=True)
    from audiodissect.summarize.extractive import common_terms

    base = common_terms(descriptions)  # the probing set's base rate, in both prompts
    assert base["tonal"] == 0.5 and base["piano"] == 0.25 and "rain" not in base
    assert read_contrastive_summary_prompt(high[0]) == ([TRUMPET, "rain"], [PIANO, "wind"], base)
    assert read_contrastive_summary_prompt(low[0]) == ([PIANO, "wind"], [TRUMPET, "rain"], base)
    s_high, s_low = summarize_clip_sets(np.array([[0, 0]]), np.array([[1, 1]]), descriptions, llm=ExtractiveLLM(),
                                        settings=SummarySettings(k=2, contrastive=True))
    assert "trumpet" in s_high[0] and "piano" not in s_high[0]
    assert "piano" in s_low[0] and "trumpet" not in s_low[0]


def test_strike_terms_keeps_the_list_readable():
    assert strike_terms("Loud, low-pitched, dull and tonal.", ["loud", "tonal"]) == "Low-pitched and dull."
    assert strike_terms("Most of the clips feature piano and organ.", ["piano"]) == \
        "Most of the clips feature organ."
    assert strike_terms("Low-pitched, dull and tonal, with steady onsets and a sharp attack.",
                        ["tonal", "steady onsets"]) == "Low-pitched and dull, with a sharp attack."
    assert strike_terms("Loud, low-pitched and dull, with a sharp attack.", ["loud"]) == \
        "Low-pitched and dull, with a sharp attack."
    assert strike_terms("Loud, bright, warm and tonal, with a sharp attack.", ["tonal"]) == \
        "Loud, bright and warm, with a sharp attack."
    # a connective left with nothing after it goes too
    assert strike_terms("Loud, low-pitched and dull, with steady onsets.", ["loud", "steady onsets"]) == \
        "Low-pitched and dull."


def test_content_calibration_keeps_the_decisive_word():
    kept, removed = calibrate_content(["Low-pitched, dull and tonal."], ["Mid-pitched, tonal and warm."])
    assert kept == ["Low-pitched and dull."]
    assert removed[0]["reason"] == "struck" and "tonal" in removed[0]["detail"]
    kept, removed = calibrate_content(["Most of the clips feature bass guitar and electric bass."],
                                      ["Most of the clips feature piano and electric bass."])
    assert kept == ["Most of the clips feature bass guitar."]
    kept, removed = calibrate_content(["Most of the clips feature piano and organ."],
                                      ["Most of the clips feature organ and piano."])
    assert kept == [] and removed[0]["reason"] == "shared"


class _SameEmbedder:
    """Every sentence maps to one vector: the sentence rule then deletes every S_high sentence."""

    def encode(self, texts):
        return np.ones((len(texts), 2), dtype=np.float32) / np.sqrt(2)


def test_modes_differ_where_sentence_cosine_is_blind():
    high = ["These clips sound low-pitched, dull and tonal."]
    low = ["These clips sound mid-pitched, tonal and warm."]
    sentence = calibrate_summaries(high, low, embedder=_SameEmbedder(), settings=CalibrationSettings())
    content = calibrate_summaries(high, low, embedder=_SameEmbedder(), settings=CalibrationSettings(mode="content"))
    assert sentence[0]["summary"] == ""
    assert content[0]["summary"] == "These clips sound low-pitched and dull."
    with pytest.raises(AudioDissectError, match="calibration mode"):
        CalibrationSettings(mode="words")


def test_default_concepts_add_acoustic_words():
    from audiodissect.identify.stage import read_concepts

    class Probe:
        name = "mine"
        labels = ["dog", "noisy"]
        concepts_file = None

    assert read_concepts(None, Probe()) == ["dog", "noisy"]
    assert read_concepts(None, Probe(), acoustic=True) == ["dog", "noisy", "low-pitched", "mid-pitched",
                                                           "high-pitched", "bright", "dull"]


def test_a_probe_with_a_concept_file_names_its_concepts_from_it(tmp_path):
    from audiodissect.identify.stage import read_concepts
    from audiodissect.probes import SOUNDBANK_CONCEPTS
    from audiodissect.probes.base import ArrayProbeSet, ClipInfo
    from audiodissect.probes.soundbank import SoundbankProbeSet

    path = tmp_path / "concepts.txt"
    path.write_text("dog_bark\nbright\n")

    class Named(ArrayProbeSet):
        concepts_file = path

    clips = [ClipInfo(id="a", label="dog"), ClipInfo(id="b", label="cat")]
    probe = Named(name="mine", clips=clips, audio=[np.zeros(4), np.zeros(4)], sample_rate=8000, spec={})
    assert read_concepts(None, probe) == ["dog bark", "bright"]
    assert read_concepts(None, probe, acoustic=True)[:3] == ["dog bark", "bright", "low-pitched"]
    plain = ArrayProbeSet(name="mine", clips=clips, audio=[np.zeros(4), np.zeros(4)], sample_rate=8000, spec={})
    assert plain.concepts_file is None and read_concepts(None, plain) == ["cat", "dog"]
    assert SoundbankProbeSet.concepts_file == SOUNDBANK_CONCEPTS


def test_content_calibration_keeps_the_contrast_frame_and_drops_the_article():
    organ = ("Sounds of organ, hammond organ and electronic organ. A loud, low-pitched, dull, tonal, sustained "
             "sound with sparse onsets and a soft attack.")
    drums = ("Sounds of drum kit, drum machine and percussion. A moderate, unpitched, dull, mixed, percussive "
             "sound with steady onsets in a regular rhythm and a soft attack.")
    high, low = contrast_summary([organ] * 3, [drums] * 3), contrast_summary([drums] * 3, [organ] * 3)
    kept, _ = calibrate_content([s.strip() + "." for s in high.split(".") if s.strip()],
                                [s.strip() + "." for s in low.split(".") if s.strip()])
    assert kept[0] == "Unlike the other clips, most of these feature hammond organ."
    plain = calibrate_content(["Loud and low-pitched, with sparse onsets and a soft attack."],
                              ["Moderate and dull, with steady onsets and a soft attack."])[0]
    assert plain == ["Loud and low-pitched, with sparse onsets."]
