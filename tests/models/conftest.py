from __future__ import annotations

import pytest
from stylegan2_testlib import perturbed

from models.stylegan2 import Generator


@pytest.fixture
def tiny() -> Generator:
    return perturbed()
