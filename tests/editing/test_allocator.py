from __future__ import annotations

import platform

import pytest

from datasetgan.editing.allocator import fix_mmap_threshold


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_fixing_the_mmap_threshold_is_accepted_by_glibc() -> None:
    assert fix_mmap_threshold() is True
    assert fix_mmap_threshold(1 << 20) is True  # again, another value: still accepted
