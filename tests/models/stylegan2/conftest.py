from __future__ import annotations

import pytest

from datasetgan.models.stylegan2 import Generator
from tests.models.stylegan2.helpers import perturbed


@pytest.fixture
def tiny() -> Generator:
    return perturbed()
