"""timm's habits (issue 15.10): ``create_model(name, num_classes=, in_chans=, img_size=)`` where
the architecture allows, refused in one line where it does not, and ``checkpoint=RUNDIR``."""

import pytest
import torch

import convnet
from convnet import runs
from convnet.errors import ModelError, RunError, SpecError
from convnet.registry import create_model, list_models


def test_a_spec_model_is_rebuilt_for_another_size():
    net = create_model("lenet5", num_classes=4, in_chans=3, img_size=28)
    assert net.input_shape == (3, 28, 28) and net.name == "lenet5"
    assert net(torch.zeros(2, 3, 28, 28)).shape == (2, 4)
    # 28 -> conv 24 -> pool 12 -> conv 8 -> pool 4: fc1 takes 16x4x4, not 16x5x5
    assert net.head.fc1.in_features == 16 * 4 * 4


def test_a_builder_that_knows_its_sizes_builds_them():
    assert create_model("tinyvgg", img_size=64).input_shape == (3, 64, 64)
    assert sum(p.numel() for p in create_model("tinyvgg", img_size=64).parameters()) == 19920


def test_a_block_built_model_takes_a_size_its_blocks_fit():
    net = create_model("resnet20", num_classes=3, in_chans=1, img_size=(28, 24))
    assert net.input_shape == (1, 28, 24) and net.training
    assert net(torch.zeros(2, 1, 28, 24)).shape == (2, 3)


def test_a_block_built_model_refuses_a_size_it_cannot_take_in_one_line():
    with pytest.raises(ModelError) as e:
        create_model("densenet121", img_size=16)
    assert str(e.value).startswith("densenet121 (built for 3x224x224) cannot take 3x16x16 inputs")
    assert "\n" not in str(e.value)


def test_a_spec_model_too_small_for_its_layers_names_the_layer():
    with pytest.raises(SpecError, match="layer"):
        create_model("lenet5", img_size=8)


@pytest.mark.parametrize("kwargs,words", [({"num_classes": 0}, "num_classes"),
                                          ({"in_chans": -1}, "in_chans"),
                                          ({"img_size": (28,)}, "img_size"),
                                          ({"img_size": 0}, "img_size")])
def test_bad_arguments_are_model_errors(kwargs, words):
    with pytest.raises(ModelError, match=words):
        create_model("lenet5", **kwargs)


def test_checkpoint_loads_a_runs_weights(tiny_run):
    trained, _ = runs.load_model(tiny_run)
    net = convnet.create_model("lenet5", checkpoint=tiny_run)
    assert net.state_dict().keys() == trained.state_dict().keys()
    assert all(torch.equal(v, trained.state_dict()[k]) for k, v in net.state_dict().items())
    fresh = create_model("lenet5")
    assert not torch.equal(fresh.features.conv1.weight, net.features.conv1.weight)


def test_checkpoint_of_another_architecture_is_refused(tiny_run, tmp_path):
    with pytest.raises(RunError, match="different model"):
        create_model("lenet5", num_classes=3, checkpoint=tiny_run)
    with pytest.raises(RunError, match="not a run directory"):
        create_model("lenet5", checkpoint=tmp_path)


def test_list_models_takes_shell_patterns():
    assert list_models("resnet*") == ["resnet18", "resnet20", "resnet34", "resnet50"]
    assert list_models("xyz*") == []
