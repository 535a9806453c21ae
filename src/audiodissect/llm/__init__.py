"""LLM transports behind one protocol: text in, text out, and an answer cache.

:class:`HttpLLM` (any OpenAI-compatible server), :class:`LlamaCppLLM` and
:class:`TransformersLLM` (in process) answer prompts; :class:`CachedLLM`
keeps their usable answers on disk. Answers come as :class:`Answers`: one
``str`` per prompt, ``None`` where a server's answers stayed unusable. Heavy
libraries load only when a backend first runs. The method's prompts, the
offline ``extractive`` backend and the LLMs by spec (``load_llm``) are in
:mod:`audiodissect.summarize`.
"""

from .answers import Answers, Completed, Failure
from .base import LLM, PARAMS
from .cached import CachedLLM, answer_key
from .http import HttpLLM, http_llm
from .llamacpp import LlamaCppLLM
from .transformers_llm import TransformersLLM

__all__ = [
    "LLM", "PARAMS", "Answers", "Completed", "Failure", "CachedLLM", "answer_key", "HttpLLM", "LlamaCppLLM",
    "TransformersLLM", "http_llm",
]
