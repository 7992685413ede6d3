"""The recipes, declared once (jobclass.training.recipes), and the TrainConfig each one gives."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from jobclass.training.config import TrainConfig, with_overrides
from jobclass.training.recipes import (
    DEFAULT_RECIPE,
    OBJECTIVES,
    RECIPE_NAMES,
    RECIPES,
    RETRAIN_RECIPES,
    TITLE_VIEWS,
    describe,
)


def test_every_recipe_is_a_config_named_after_it():
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    assert RECIPE_NAMES == ("default", "titles", "mnrl", "bootstrap", "tiny") and DEFAULT_RECIPE in RECIPES
    for name, recipe in RECIPES.items():
        assert set(recipe.overrides) <= fields, name
        config = TrainConfig.recipe(name)
        assert config.name == name and config.finetune_objective in OBJECTIVES
        assert all(getattr(config, k) == v for k, v in recipe.overrides.items())
    with pytest.raises(ValueError, match="unknown recipe"):
        TrainConfig.recipe("huge")


def test_the_recipes_keep_their_settings():
    assert TrainConfig.recipe("default") == TrainConfig()
    default = TrainConfig()
    assert (default.epochs, default.finetune_objective, default.finetune_sources) == (3.0, "proxy", (*TITLE_VIEWS, "task"))
    assert (default.batch_size, default.learning_rate, default.finetune_max_seq_length) == (64, 5e-5, 24)
    assert TrainConfig.recipe("titles") == dataclasses.replace(default, name="titles", finetune_sources=TITLE_VIEWS, epochs=2.0)
    assert TrainConfig.recipe("mnrl") == dataclasses.replace(
        default, name="mnrl", finetune_objective="mnrl", finetune_sources=TITLE_VIEWS, epochs=1.0
    )
    assert TrainConfig.recipe("bootstrap") == dataclasses.replace(default, name="bootstrap", finetune=False)
    assert TrainConfig.recipe("tiny") == dataclasses.replace(
        default, name="tiny", epochs=1, batch_size=16, max_pairs=64, max_steps=4, max_per_code=2, lr_max_iter=60,
        benchmark_limit=200, show_progress=False, review_threshold_from="validation",
    )


def test_the_retrain_offers_every_recipe_but_the_bootstrap():
    assert tuple(RETRAIN_RECIPES) == ("default", "titles", "mnrl", "tiny")
    assert describe(RETRAIN_RECIPES).startswith("default: ") and "bootstrap" not in describe(RETRAIN_RECIPES)


def test_the_cli_offers_the_declared_recipes():
    from jobclass.cli import build_parser

    args = build_parser().parse_args(["train", "--recipe", "mnrl"])
    assert args.recipe == "mnrl"
    for name in RECIPE_NAMES:
        assert build_parser().parse_args(["train", "--recipe", name]).recipe == name
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--recipe", "huge"])


def test_overrides_that_are_none_keep_the_recipes_value():
    tiny = TrainConfig.recipe("tiny")
    config = with_overrides(tiny, epochs=None, batch_size=8, device=None)
    assert config == dataclasses.replace(tiny, batch_size=8)


def test_the_recipe_list_is_light_enough_for_a_dag_file():
    code = (
        "import sys, jobclass.training.recipes\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('numpy', 'pandas', 'torch', 'sklearn')"
        " or m.startswith('jobclass.') and m not in ('jobclass.training', 'jobclass.training.recipes'))\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
