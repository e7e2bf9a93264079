"""Config validation and (de)serialisation."""

from __future__ import annotations

import pytest
from conftest import tiny_image_config, tiny_sequence_config

from mfm.config import MFMConfig, ModalityConfig, ObjectiveConfig
from mfm.errors import ConfigError


@pytest.mark.parametrize("make", [tiny_sequence_config, tiny_image_config])
def test_round_trip_through_builtins(make):
    config = make()
    data = config.to_dict()
    assert MFMConfig.from_dict(data) == config
    # Plain builtins only: the JSON form is the same data.
    import json

    assert MFMConfig.from_dict(json.loads(json.dumps(data))) == config


def test_config_is_frozen():
    config = tiny_sequence_config()
    with pytest.raises(AttributeError):
        config.task = "classification"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"task": "ranking"}, "task must be"),
        ({"num_classes": 3}, "regression model predicts one number"),
        ({"shared_code_dim": 0}, "shared_code_dim must be between"),
        ({"shared_factor_dim": 10**9}, "shared_factor_dim must be between"),
        ({"dropout": 1.5}, "dropout must be between"),
        ({"fusion": "attention"}, "fusion must be"),
        ({"surrogate": "yes"}, "surrogate must be true or false"),
    ],
)
def test_invalid_fields_are_named(change, message):
    with pytest.raises(ConfigError, match=message):
        tiny_sequence_config(**change)


def test_invalid_objective_fields_are_named():
    from mfm.config import ObjectiveConfig

    with pytest.raises(ConfigError, match="mmd_weight must be a finite number"):
        ObjectiveConfig(mmd_weight=float("nan"))
    with pytest.raises(ConfigError, match="recon_weights"):
        ObjectiveConfig(recon_weights={"language": -1.0})


def test_modality_errors():
    with pytest.raises(ConfigError, match="shape is \\(T, D\\)"):
        ModalityConfig("x", "sequence", (3, 4, 5), 2, 2, 2)
    with pytest.raises(ConfigError, match="height"):
        ModalityConfig("x", "image", (3, 10**6, 32), 2, 2, 2)
    with pytest.raises(ConfigError, match="Python identifier"):
        ModalityConfig("not a name", "image", (3, 32, 32), 2, 2, 2)
    with pytest.raises(ConfigError, match="code_dim must be an integer"):
        ModalityConfig("x", "image", (3, 32, 32), 2.5, 2, 2)
    with pytest.raises(ConfigError, match="fuses sequences only"):
        tiny_image_config(fusion="mfn")
    with pytest.raises(ConfigError, match="unique"):
        m = ModalityConfig("x", "image", (3, 32, 32), 2, 2, 2)
        tiny_image_config(modalities=(m, m))


def test_from_dict_refuses_unknown_and_missing_fields():
    data = tiny_sequence_config().to_dict()
    with pytest.raises(ConfigError, match=r"unknown fields \['layers'\]"):
        MFMConfig.from_dict({**data, "layers": 3})
    del data["task"]
    with pytest.raises(ConfigError, match=r"missing required fields \['task'\]"):
        MFMConfig.from_dict(data)
    with pytest.raises(ConfigError, match="must be a dict"):
        MFMConfig.from_dict([1, 2])
    bad = tiny_sequence_config().to_dict()
    bad["modalities"][0]["kind"] = "audio"
    with pytest.raises(ConfigError, match="kind must be"):
        MFMConfig.from_dict(bad)


def test_preset_overrides_per_modality_fields_by_name():
    from mfm.presets import config_for_dataset, setup_for_dataset

    args = (("svhn", "mnist"), {"svhn": (3, 32, 32), "mnist": (1, 28, 28)}, "classification", 10)
    config, objective = setup_for_dataset(
        *args, modalities={"svhn": {"hidden_dim": 32}}, style_adversary_weight=1.0
    )
    assert config.modality("svhn").hidden_dim == 32 and objective.style_adversary_weight == 1.0
    assert config.style_adversaries  # a positive adversary weight builds the adversaries
    assert config.modality("mnist") == config_for_dataset(*args).modality("mnist")  # the other one untouched
    cases = [
        ({"x": {}}, r"no modality \['x'\]"),
        ({"svhn": {"shape": [1, 2, 3]}}, "come from the data"),
        ({"svhn": {"nope": 1}}, "unexpected keyword argument 'nope'"),
        ([1], "must map modality names"),
        ({"svhn": {"hidden_dim": 0}}, "hidden_dim must be between"),
    ]
    for bad, message in cases:
        with pytest.raises(ConfigError, match=message):
            config_for_dataset(*args, modalities=bad)


@pytest.mark.parametrize("field", ["edge_weights", "foreground_weights"])
def test_per_modality_weights_round_trip_and_refuse_bad_entries(field):
    from mfm.presets import setup_for_dataset

    args = (("svhn", "mnist"), {"svhn": (3, 32, 32), "mnist": (1, 28, 28)}, "classification", 10)
    config = setup_for_dataset(*args)[0]
    objective = ObjectiveConfig(**{field: {"svhn": 0.0}})
    assert ObjectiveConfig.from_dict(objective.to_dict()) == objective
    old = objective.to_dict()  # an objective written before the field existed
    del old[field]
    assert getattr(ObjectiveConfig.from_dict(old), field) == ()
    with pytest.raises(ConfigError, match=rf"{field}\['svhn'\] must be between"):
        ObjectiveConfig(**{field: {"svhn": -1.0}})
    with pytest.raises(ConfigError, match=rf"objective.{field} names \['x'\]"):
        ObjectiveConfig(**{field: {"x": 1.0}}).check_model(config)


def test_foreground_weight_per_modality():
    from mfm.presets import setup_for_dataset

    args = (("svhn", "mnist"), {"svhn": (3, 32, 32), "mnist": (1, 28, 28)}, "classification", 10)
    config, objective = setup_for_dataset(
        *args, foreground_weight=4.0, modalities={"mnist": {"foreground_weight": 0.0}}
    )
    assert objective.foreground_weights == (("mnist", 0.0),) and objective.foreground_weight == 4.0
    assert (objective.modality_foreground_weight("svhn"), objective.modality_foreground_weight("mnist")) == (
        4.0,
        0.0,
    )
    assert config == setup_for_dataset(*args)[0]  # objective weights, not model fields
    assert objective.to_dict()["foreground_weights"] == {"mnist": 0.0}


@pytest.mark.parametrize("field", ["tone_weight", "thickness_weight"])
def test_added_term_weights_round_trip_default_to_zero_and_are_bounded(field):
    objective = ObjectiveConfig(**{field: 0.3})
    assert ObjectiveConfig.from_dict(objective.to_dict()) == objective
    old = objective.to_dict()  # an objective written before the field existed
    del old[field]
    assert getattr(ObjectiveConfig.from_dict(old), field) == 0.0
    with pytest.raises(ConfigError, match=f"{field} must be between"):
        ObjectiveConfig(**{field: -1.0})


def test_tone_weight_needs_a_colour_two_tone_decoder():
    import dataclasses

    from conftest import tiny_image_config

    objective = ObjectiveConfig(tone_weight=1.0, chroma_weight=8.0)
    base = tiny_image_config()
    svhn, mnist = base.modalities
    grey_only = base.replace(modalities=(svhn, dataclasses.replace(mnist, composite="two_tone")))
    with pytest.raises(
        ConfigError, match="tone_weight needs a colour image modality with a two-tone decoder"
    ):
        objective.check_model(grey_only)  # MNIST's two tones are grey levels: no colour to train
    colour = base.replace(modalities=(dataclasses.replace(svhn, composite="two_tone"), mnist))
    objective.check_model(colour)
    ObjectiveConfig().check_model(grey_only)  # without the term, any decoder


def test_thickness_weight_needs_a_grey_image_modality():
    from conftest import tiny_image_config

    objective = ObjectiveConfig(thickness_weight=0.3)
    base = tiny_image_config()
    objective.check_model(base)
    colour_only = base.replace(modalities=(base.modalities[0],), surrogate=False)
    with pytest.raises(
        ConfigError, match=r"thickness_weight needs a grey-scale image modality \(one channel\)"
    ):
        objective.check_model(colour_only)
    ObjectiveConfig().check_model(colour_only)  # without the term, any modalities


def test_edge_weight_per_modality():
    from mfm.presets import setup_for_dataset

    args = (("svhn", "mnist"), {"svhn": (3, 32, 32), "mnist": (1, 28, 28)}, "classification", 10)
    config, objective = setup_for_dataset(
        *args, modalities={"mnist": {"edge_weight": 1.0, "recon_weight": 2.0}}
    )
    assert objective.edge_weights == (("mnist", 1.0),) and objective.recon_weight("mnist") == 2.0
    assert (objective.modality_edge_weight("mnist"), objective.modality_edge_weight("svhn")) == (1.0, 0.0)
    assert objective.uses_edges and not ObjectiveConfig().uses_edges
    assert config == setup_for_dataset(*args)[0]  # objective weights, not model fields
    # A modality's entry overrides the shared weight, in either direction.
    both = ObjectiveConfig(edge_weight=0.3, edge_weights={"svhn": 0.0})
    assert (both.modality_edge_weight("svhn"), both.modality_edge_weight("mnist")) == (0.0, 0.3)
    assert both.to_dict()["edge_weights"] == {"svhn": 0.0}
    with pytest.raises(ConfigError, match=r"no modality \['x'\]"):
        setup_for_dataset(*args, modalities={"x": {"edge_weight": 1.0}})


def test_image_decoders_upsample_by_transposed_convolutions_or_resizing():
    import dataclasses

    import torch
    from torch import nn

    from mfm.model import MFM

    base = tiny_image_config()
    resized = base.replace(
        modalities=tuple(dataclasses.replace(m, upsampling="resize") for m in base.modalities)
    )
    assert MFMConfig.from_dict(resized.to_dict()) == resized
    old = base.to_dict()  # a checkpoint written before the field existed still loads, with the default
    for modality in old["modalities"]:
        del modality["upsampling"]
    assert MFMConfig.from_dict(old) == base
    decoders = MFM(resized).decoders
    for name, shape in (("svhn", (3, 32, 32)), ("mnist", (1, 28, 28))):
        layers = list(decoders[name].modules())
        assert not any(isinstance(layer, nn.ConvTranspose2d) for layer in layers)
        assert sum(isinstance(layer, nn.Upsample) for layer in layers) >= 2
        assert decoders[name](torch.zeros(2, base.shared_factor_dim + 4)).shape == (2, *shape)
    assert any(isinstance(layer, nn.ConvTranspose2d) for layer in MFM(base).decoders["svhn"].modules())
    with pytest.raises(ConfigError, match="upsampling must be one of transposed, resize"):
        dataclasses.replace(base.modalities[0], upsampling="bilinear")
    with pytest.raises(ConfigError, match=r"\(images only\)"):
        dataclasses.replace(tiny_sequence_config().modalities[0], upsampling="resize")


def test_image_decoders_refine_each_resolution_with_extra_convolutions():
    import dataclasses

    import torch
    from torch import nn

    from mfm.model import MFM

    base = tiny_image_config()
    refined = base.replace(modalities=tuple(dataclasses.replace(m, refine_layers=2) for m in base.modalities))
    assert MFMConfig.from_dict(refined.to_dict()) == refined
    old = base.to_dict()  # written before the field existed: loads with no extra layers
    for modality in old["modalities"]:
        del modality["refine_layers"]
    assert MFMConfig.from_dict(old) == base
    for name, shape in (("svhn", (3, 32, 32)), ("mnist", (1, 28, 28))):
        plain, extra = MFM(base).decoders[name], MFM(refined).decoders[name]

        def square_convs(decoder: nn.Module) -> list[int]:  # widths of the w -> w 3 x 3 convolutions
            return [
                m.in_channels
                for m in decoder.modules()
                if isinstance(m, nn.Conv2d) and m.in_channels == m.out_channels
            ]

        upsamplings = sum(isinstance(m, nn.ConvTranspose2d) for m in plain.modules())
        assert square_convs(plain) == [] and len(square_convs(extra)) == 2 * upsamplings
        assert extra(torch.zeros(2, base.shared_factor_dim + 4)).shape == (2, *shape)
    with pytest.raises(ConfigError, match="refine_layers must be"):
        dataclasses.replace(base.modalities[0], refine_layers=-1)
    with pytest.raises(ConfigError, match="refine_layers is for image decoders only"):
        dataclasses.replace(tiny_sequence_config().modalities[0], refine_layers=1)


def test_composite_image_decoders_are_a_switch_old_configs_load_without():
    import dataclasses

    base = tiny_image_config()
    for kind, words in (("ink", "transposed, ink composite"), ("two_tone", "transposed, two-tone composite")):
        composite = base.replace(
            modalities=tuple(dataclasses.replace(m, composite=kind) for m in base.modalities)
        )
        assert MFMConfig.from_dict(composite.to_dict()) == composite
        assert [m.decoder_name for m in composite.modalities] == [words] * 2
    old = base.to_dict()  # written before the field existed: the plain decoder
    for modality in old["modalities"]:
        del modality["composite"]
    assert MFMConfig.from_dict(old) == base and base.modalities[0].decoder_name == "transposed"
    for modality in old["modalities"]:  # an earlier version wrote true / false
        modality["composite"] = True
    assert {m.composite for m in MFMConfig.from_dict(old).modalities} == {"ink"}
    assert dataclasses.replace(base.modalities[0], composite=False).composite == "none"
    with pytest.raises(ConfigError, match="composite must be one of none, ink, two_tone, got 'paint'"):
        dataclasses.replace(base.modalities[0], composite="paint")
    with pytest.raises(ConfigError, match="composite is for image decoders only"):
        dataclasses.replace(tiny_sequence_config().modalities[0], composite="ink")
