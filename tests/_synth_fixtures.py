"""Session fixtures: one tiny synthetic coal base shared by the foundation tests."""

from __future__ import annotations

import pytest

from cubeeco.synth import Landscape, preset, synthesize


@pytest.fixture(scope="session")
def tiny_config():
    return preset("tiny")


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory, tiny_config):
    """The ``tiny`` preset written once: TM, ETM+ SLC-off and OLI years, clouds, off-season scenes."""
    return synthesize(tiny_config, tmp_path_factory.mktemp("tiny-base"), progress=False)


@pytest.fixture(scope="session")
def tiny_landscape(tiny_config):
    return Landscape(tiny_config)
