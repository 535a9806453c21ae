"""LLM backends behind one protocol, an answer cache, and the prompts of the method.

``load_llm("extractive" | "llamacpp[:<path.gguf>]" | "http:<model>[@<base_url>]" |
"transformers:<id or folder>")`` builds a backend; :class:`CachedLLM` keeps
its usable answers on disk. Answers come as :class:`Answers`: one ``str`` per
prompt, ``None`` where a server's answers stayed unusable. Heavy libraries
load only when a backend first runs.
"""

from .answers import Answers, Completed, Failure
from .base import LLM, PARAMS
from .cached import CachedLLM, answer_key
from .extractive import ExtractiveLLM
from .http import HttpLLM
from .llamacpp import LlamaCppLLM
from .load import SPEC_FORMS, load_llm
from .prompts import (
    adjective_check_prompt,
    concept_choice_prompt,
    parse_concepts,
    parse_yes_no,
    summary_prompt,
)
from .transformers_llm import TransformersLLM

__all__ = [
    "LLM", "PARAMS", "Answers", "Completed", "Failure", "CachedLLM", "answer_key", "ExtractiveLLM", "HttpLLM",
    "LlamaCppLLM", "TransformersLLM", "SPEC_FORMS", "load_llm", "summary_prompt", "concept_choice_prompt",
    "adjective_check_prompt", "parse_yes_no", "parse_concepts",
]
