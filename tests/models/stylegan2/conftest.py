from __future__ import annotations

import pytest
from tests.models.stylegan2.helpers import perturbed

from datasetgan.models.stylegan2 import Generator


@pytest.fixture
def tiny() -> Generator:
    return perturbed()
