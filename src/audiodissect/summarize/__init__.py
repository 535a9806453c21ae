"""Per-unit summaries (Module B), open-set concepts (Module C) and ICL concept choice (Module A).

Public surface:

- :func:`top_bottom_clips`: each unit's top-K and bottom-K probe clips;
- :func:`summary_prompts`, :func:`summarize_clip_sets`: S_high and S_low;
- :func:`split_sentences`, :func:`calibrate_summaries`, :func:`calibrate_summary`,
  :class:`CalibrationSettings`: summary calibration;
- :func:`extract_open_concepts`, :class:`OpenConceptSettings`: adjectives,
  nouns, verbs, prepositions, length; :func:`tag_texts`, :class:`TagStore`:
  the words spaCy tags, each text tagged once per machine;
- :class:`LexiconAcousticFilter`, :class:`LLMAcousticFilter`,
  :func:`make_acoustic_filter`: acoustic adjectives;
- :func:`map_to_concepts`, :func:`choose_concepts`, :class:`ICLSettings`: ICL;
- :func:`summarize_units`, :class:`SummarizeSettings`,
  :func:`make_summarize_settings`, :func:`summarize_cache_key`: the whole stage;
- :func:`load_llm`, :data:`LLMS`: the LLMs by spec; :class:`ExtractiveLLM`: the
  offline backend, which reads the method's prompts (:mod:`.prompts`) back.
"""

from .acoustic_filter import LexiconAcousticFilter, LLMAcousticFilter, load_lexicon, make_acoustic_filter
from .batching import complete_unique
from .calibration import CalibrationSettings, calibrate_sentences, calibrate_summaries, calibrate_summary, content_sentences
from .extractive import ExtractiveLLM
from .icl import ICLSettings, choose_concepts, map_to_concepts
from .llms import LLMS, load_llm
from .open_concepts import OpenConceptSettings, extract_open_concepts
from .tagging import TagStore, tag_texts
from ..sentences import BOILERPLATE_PHRASES, split_sentences
from .units import SummarizeSettings, make_summarize_settings, summarize_cache_key, summarize_units
from .summaries import SummarySettings, summarize_clip_sets, summary_prompts
from .topk import top_bottom_clips

__all__ = [
    "BOILERPLATE_PHRASES", "CalibrationSettings", "ExtractiveLLM", "ICLSettings", "LLMAcousticFilter", "LLMS",
    "LexiconAcousticFilter", "OpenConceptSettings", "SummarizeSettings", "SummarySettings", "calibrate_sentences",
    "calibrate_summaries", "calibrate_summary", "choose_concepts", "complete_unique", "content_sentences",
    "extract_open_concepts", "load_lexicon", "load_llm", "make_acoustic_filter", "map_to_concepts",
    "split_sentences", "summarize_clip_sets", "make_summarize_settings", "summarize_cache_key", "summarize_units",
    "summary_prompts", "TagStore", "tag_texts", "top_bottom_clips",
]
