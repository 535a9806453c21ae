"""Concept-specific pruning (audio machine unlearning) and its evaluation.

- :mod:`~audiodissect.prune.ablation`: switch units off (hooks or zeroed weights);
- :mod:`~audiodissect.prune.strategies`: choose units for a concept (TAB, DB, OCP, random, given);
- :mod:`~audiodissect.prune.matching`: noun-concept matching for OCP;
- :mod:`~audiodissect.prune.evaluate`: dA, dR and selectivity on held-out clips;
- :mod:`~audiodissect.prune.importance`: accuracy when pruning units ranked by their summaries;
- :mod:`~audiodissect.prune.class_drop`: which classes lose confidence when a concept is pruned;
- :mod:`~audiodissect.prune.runner`: pruning a run directory's units, cached per selection;
- :mod:`~audiodissect.prune.stage`: the prune, class-drop and importance stages.
"""

from ..class_names import class_index, normalize_concept
from .ablation import ablate, group_units, zero_units_
from .evaluate import (HeldoutAudio, class_changes, confidence, evaluate_selection, format_table,
                       heldout_logits, heldout_targets, pruning_effect, pruning_table)
from .class_drop import ClassDrop, class_drop_matrices, class_drop_summary, plot_class_drop, write_class_drop
from .importance import plot_importance, property_values, rank_by_property, rank_random, run_importance
from .matching import concept_keys, lemma, match_nouns
from .runner import PruneConfig, PruningContext, evaluate_pruning, prune_concept, select_for_concept
from .causal import causal_effects, causal_summary, concept_clips
from .stage import CausalStage, ClassDropStage, ImportanceStage, PruneStage
from .strategies import (STRATEGIES, Selection, eligible_layers, select_closed_set, select_given,
                         select_ocp, select_random)

__all__ = [
    "ablate", "zero_units_", "group_units",
    "HeldoutAudio", "class_changes", "class_index", "confidence", "evaluate_selection", "format_table",
    "heldout_logits", "heldout_targets", "pruning_effect", "pruning_table",
    "ClassDrop", "class_drop_matrices", "class_drop_summary", "plot_class_drop", "write_class_drop",
    "plot_importance", "property_values", "rank_by_property", "rank_random", "run_importance",
    "concept_keys", "lemma", "match_nouns", "normalize_concept",
    "PruneConfig", "PruningContext", "evaluate_pruning", "prune_concept", "select_for_concept",
    "CausalStage", "ClassDropStage", "ImportanceStage", "PruneStage", "causal_effects", "causal_summary",
    "concept_clips",
    "STRATEGIES", "Selection", "eligible_layers", "select_closed_set", "select_given",
    "select_ocp", "select_random",
]
