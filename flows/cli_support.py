"""What the flow commands share: building parameters with one-line errors, the progress bar, running
a flow in this process (no server needed: Prefect starts a temporary one), printing its result."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from flows import progress

console = Console()


def flow_errors() -> tuple[type[BaseException], ...]:
    """What a flow raises for bad input or a failed run (shown as one line, not a traceback)."""
    from interpreter import InterpreterError
    from models.errors import ModelError
    from storage import StorageError

    return (ValueError, OSError, RuntimeError, StorageError, InterpreterError, ModelError)


def fail(message: str) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code=2)


def explain(exc: ValidationError) -> str:
    """A pydantic error as '<field>: <message>' lines."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "parameters"
        parts.append(f"{where}: {err['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


def build(model: type[BaseModel], **values: Any) -> Any:
    """``model(**values)``, or exit with the validation errors (before any work)."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise fail(explain(exc)) from None


def runner(workers: int, dask: bool, dask_address: str | None) -> dict[str, Any]:
    return {
        "kind": "dask" if dask or dask_address else "local",
        "workers": workers,
        "address": dask_address,
    }


@contextmanager
def _quiet_console(enabled: bool) -> Iterator[None]:
    """While the bar shows, Prefect's console handler prints warnings and errors only (run logs
    still go to the Prefect API and its UI)."""
    handlers = [
        h for h in logging.getLogger().handlers if type(h).__name__ == "PrefectConsoleHandler"
    ]
    levels = [h.level for h in handlers]
    if enabled:
        for h in handlers:
            h.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for h, level in zip(handlers, levels, strict=True):
            h.setLevel(level)


@contextmanager
def bar(enabled: bool) -> Iterator[None]:
    """A rich progress bar fed by flows.progress (one line per kind of work)."""
    if not enabled:
        yield
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as shown, _quiet_console(True):
        lines: dict[str, Any] = {}

        def sink(what: str, done: int, total: int) -> None:
            if what not in lines:
                lines[what] = shown.add_task(what, total=total)
            shown.update(lines[what], completed=done, total=total)

        with progress.listen(sink):
            yield


def run(
    flow_fn: Callable[[Any], dict[str, Any]], params: BaseModel, *, verbose: bool
) -> dict[str, Any]:
    """Run a flow here; errors become one clear line and exit code 2."""
    from prefect.settings import PREFECT_API_URL

    where = PREFECT_API_URL.value() or "none set: a temporary local server starts first (10-30 s)"
    console.print(f"[dim]{getattr(flow_fn, 'name', 'flow')}: Prefect API {where}[/]")
    try:
        with bar(not verbose):
            result = flow_fn(params)
    except flow_errors() as exc:
        raise fail(f"{type(exc).__name__}: {exc}") from exc
    show(result)
    return result


def show(result: dict[str, Any]) -> None:
    table = Table(show_header=False)
    for key, value in result.items():
        table.add_row(str(key), str(value))
    console.print(table)
