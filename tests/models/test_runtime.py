"""The process-wide allocator setting (run in a child process: it changes the whole process)."""

from __future__ import annotations

import subprocess
import sys

import pytest

CHILD = """
from datasetgan.models.runtime import tune_cpu_allocator
print(tune_cpu_allocator(), tune_cpu_allocator())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_tune_cpu_allocator_applies_once_and_is_idempotent() -> None:
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True"], out.stdout + out.stderr
