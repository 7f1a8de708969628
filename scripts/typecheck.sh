#!/usr/bin/env bash
# mypy over every package under its import name (datasetgan.<folder>). mypy cannot follow the
# editable install's import hook, so build/typecheck/datasetgan/ holds one symlink per folder
# (made here, ignored by git) and mypy_path points at it.
set -euo pipefail
cd "$(dirname "$0")/.."
tree=build/typecheck/datasetgan
mkdir -p "$tree"
for pkg in storage models interpreter editing pipeline flows demo toyfaces assets annotate; do
  ln -sfn "../../../$pkg" "$tree/$pkg"
done
exec .venv/bin/mypy "$@"
