"""Run by tests/storage/test_resume.py (python -m tests.storage.kill_writer): build a store and hold mid-shard until killed. argv: path n hold_at."""

import sys
from pathlib import Path

from tests.storage.helpers import build

if __name__ == "__main__":
    path, n, hold_at = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    build(path, n, hold_at=None if hold_at < 0 else hold_at)
