"""Default recipes: every model gets a valid one for each kind of data, flags win, run.json says."""

import json
from dataclasses import fields

import pytest

from convnet import recipes, runs
from convnet.config import TrainConfig, check_config
from convnet.registry import list_models, model_info
from convnet.train import fit, start

SMALL = [m for m in list_models() if model_info(m).input_shape[1] <= 32]


@pytest.mark.parametrize("model", SMALL)
@pytest.mark.parametrize("dataset,channels", [("mnist", 1), ("fashion-mnist", 1),
                                              ("cifar10", 3), ("my-photos", 3)])
def test_every_small_model_has_a_valid_recipe_for_each_kind_of_data(model, dataset, channels):
    cfg, source = recipes.resolve(TrainConfig(model=model, dataset=dataset),
                                  recipes.kind_of(dataset, channels))
    check_config(cfg)  # every value a run can use
    assert all(getattr(cfg, f) is not None for f in recipes.FIELDS)
    assert set(source) == set(recipes.FIELDS) and "flag" not in source.values()
    photos = recipes.kind_of(dataset, channels) == "photos"
    assert cfg.flip is photos  # mirrored digits are no digits; photos are mirrored
    # photos: crops from 4 zero pixels (airbench94: 2); digits: small shifts
    assert 2 <= cfg.shift <= 4 if photos else 1 <= cfg.shift <= 2


def test_the_mnist_recipe_of_lenet5_is_unchanged():
    cfg, _ = recipes.resolve(TrainConfig(), "digits")
    assert (cfg.epochs, cfg.batch_size, cfg.lr, cfg.optimizer, cfg.label_smoothing,
            cfg.shift, cfg.flip) == (2, 128, 8e-3, "adam", 0.05, 1, False)


def test_a_model_recipe_refines_its_kind_and_a_dataset_entry_refines_both():
    mnist, src = recipes.resolve(TrainConfig(model="resnet20", dataset="mnist"), "digits")
    fashion, _ = recipes.resolve(TrainConfig(model="resnet20", dataset="fashion-mnist"),
                                 "digits")
    assert (mnist.epochs, fashion.epochs, src["epochs"]) == (3, 6, "resnet20/digits")
    assert fashion.lr == mnist.lr == 3e-3 and src["batch_size"] == "digits"
    cifar, src = recipes.resolve(TrainConfig(model="seed4", dataset="cifar10"), "photos")
    assert cifar.label_smoothing == 0.0 and src["label_smoothing"] == "seed4/photos"


@pytest.mark.parametrize("field", recipes.FIELDS)
def test_every_recipe_field_is_overridden_by_its_flag(field):
    base, _ = recipes.resolve(TrainConfig(model="resnet20", dataset="cifar10"), "photos")
    value = {"epochs": 1, "batch_size": 7, "lr": 0.5, "optimizer": "sgd", "momentum": 0.5,
             "weight_decay": 0.25, "schedule": "constant", "label_smoothing": 0.3, "shift": 0,
             "flip": False, "precision": "fp32"}[field]
    assert getattr(base, field) != value
    cfg, source = recipes.resolve(TrainConfig(model="resnet20", dataset="cifar10",
                                              **{field: value}), "photos")
    assert getattr(cfg, field) == value and source[field] == "flag"
    assert all(source[f] != "flag" for f in recipes.FIELDS if f != field)


def test_a_spec_line_gets_the_recipe_of_its_kind():
    cfg, source = recipes.resolve(TrainConfig(model="conv6@5x5 relu maxpool2 fc10",
                                              dataset="cifar10"), "photos")
    assert cfg.epochs == recipes.KIND_RECIPES["photos"]["epochs"]
    assert set(source.values()) == {"photos"}


def test_recipe_fields_are_config_fields():
    assert set(recipes.FIELDS) <= {f.name for f in fields(TrainConfig)}


def test_run_json_records_the_resolved_recipe_and_its_sources(tiny_data, tmp_path):
    out = tmp_path / "run"
    fit(start(TrainConfig(data_dir=str(tiny_data), epochs=1, limit=64, batch_size=32,
                          out=str(out), progress=False)))
    saved = json.loads((out / runs.MANIFEST).read_text())
    assert saved["config"]["epochs"] == 1 and saved["recipe"]["epochs"] == "flag"
    assert saved["config"]["lr"] == 8e-3 and saved["recipe"]["lr"] == "digits"
    assert saved["config"]["flip"] is False and saved["recipe"]["flip"] == "digits"
    assert all(saved["config"][f] is not None for f in recipes.FIELDS)
