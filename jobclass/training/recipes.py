"""The training recipes and fine-tuning objectives, declared once.

A recipe is a name and the :class:`jobclass.training.config.TrainConfig` fields it sets; the
``jobclass train --recipe`` choices, the weekly retrain's ``recipe`` param and
:meth:`TrainConfig.recipe <jobclass.training.config.TrainConfig.recipe>` all read :data:`RECIPES`.

This module imports nothing heavy (no jobclass module, no numpy), so that a DAG file can read the
names at parse time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

#: The fine-tuning objectives (``TrainConfig.finetune_objective``), see :mod:`jobclass.training.objectives`:
#: ``proxy``, a normalised softmax over one learned proxy per occupation (the default); ``mnrl``,
#: MultipleNegativesRankingLoss on (title, occupation title, sibling title) triples.
OBJECTIVES = ("proxy", "mnrl")

#: The title views of an occupation in the corpus (besides its official title).
TITLE_VIEWS = ("alternate_title", "short_title")


@dataclass(frozen=True)
class Recipe:
    name: str
    description: str
    #: The TrainConfig fields this recipe sets; every other field keeps its default.
    overrides: Mapping[str, Any] = field(default_factory=dict)
    #: Offered by the weekly retrain DAG (the bootstrap is the nightly's first model only).
    retrain: bool = True


_RECIPES = (
    Recipe(
        "default",
        "normalised-softmax fine-tuning over one proxy per occupation, on its titles and task statements",
    ),
    Recipe(
        "titles",
        "the same on titles only (the earlier default)",
        {"finetune_sources": TITLE_VIEWS, "epochs": 2.0},
    ),
    Recipe(
        "mnrl",
        "the earlier contrastive recipe: MNRL on (title, occupation title, sibling title) triples",
        {"finetune_objective": "mnrl", "finetune_sources": TITLE_VIEWS, "epochs": 1.0},
    ),
    Recipe(
        "bootstrap",
        "the light first model: the base encoder, untuned, with trained heads",
        {"finetune": False},
        retrain=False,
    ),
    Recipe(
        "tiny",
        "a few training steps on a small corpus, over the full label space (tests, smoke runs)",
        {
            "epochs": 1, "batch_size": 16, "max_pairs": 64, "max_steps": 4, "max_per_code": 2, "lr_max_iter": 60,
            "benchmark_limit": 200, "show_progress": False, "review_threshold_from": "validation",
        },
    ),
)

DEFAULT_RECIPE = "default"
#: Every recipe by name, in the order they are offered (``jobclass train --recipe``).
RECIPES: Mapping[str, Recipe] = MappingProxyType({r.name: r for r in _RECIPES})
RECIPE_NAMES: tuple[str, ...] = tuple(RECIPES)
#: The recipes the weekly retrain offers (its ``recipe`` param), name -> description.
RETRAIN_RECIPES: Mapping[str, str] = MappingProxyType({r.name: r.description for r in _RECIPES if r.retrain})


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; choose one of {sorted(RECIPES)}")
    return RECIPES[name]


def describe(names: Iterable[str] = RECIPE_NAMES) -> str:
    """One line of help: ``name: description`` for each of ``names``."""
    return "; ".join(f"{name}: {RECIPES[name].description}" for name in names)
