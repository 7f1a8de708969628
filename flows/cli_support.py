"""What the commands share: one-line user errors (:class:`Commands`), the runner options declared
once (:func:`runner_options`), building parameters before any work, the progress bar, and running
a flow in this process (no server needed: Prefect starts a temporary one).

User errors are the project's own error hierarchies and OSError
(:func:`datasetgan.pipeline.errors.user_error_types`). Raised anywhere, inside a Prefect task
included, they print as ``error: <message>`` and exit 2; ``-v`` adds the traceback. Any other
exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import functools
import inspect
import logging
import traceback
import typing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from typer.core import TyperGroup

from datasetgan.pipeline import progress
from datasetgan.pipeline.errors import is_user_error
from datasetgan.pipeline.params import RunnerSpec

console = Console()
err_console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


class Commands(TyperGroup):
    """The ``datasetgan`` group: a user error from any command becomes one line and exit code 2."""

    def invoke(self, ctx: Any) -> Any:  # a typer Context (its click is vendored)
        try:
            return super().invoke(ctx)
        except Exception as exc:
            if not is_user_error(exc):
                raise
            if ctx.params.get("verbose"):
                err_console.print("".join(traceback.format_exception(exc)), highlight=False)
            console.print(f"[bold red]error:[/] {_one_line(exc)}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=2) from None


def _one_line(exc: BaseException) -> str:
    name = type(exc).__name__
    return f"{name}: {exc}" if name not in ("OSError",) else str(exc)


def fail(message: str) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code=2)


def explain(exc: ValidationError) -> str:
    """A pydantic error as '<field>: <message>' parts, every bad field at once."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)  # model checks name their field
    return "; ".join(parts)


def build(model: type[BaseModel], **values: Any) -> Any:
    """``model(**values)``, or exit with the validation errors (before Prefect or any model)."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise fail(explain(exc)) from None


_RUNNER = RunnerSpec()
_RUNNER_OPTIONS = [
    inspect.Parameter(
        "workers",
        inspect.Parameter.KEYWORD_ONLY,
        default=_RUNNER.workers,
        annotation=Annotated[
            int,
            typer.Option(help="shard tasks at a time (threads; with --dask: worker processes)"),
        ],
    ),
    inspect.Parameter(
        "dask",
        inspect.Parameter.KEYWORD_ONLY,
        default=_RUNNER.kind == "dask",
        annotation=Annotated[
            bool, typer.Option("--dask", help="run shard tasks on a Dask LocalCluster")
        ],
    ),
    inspect.Parameter(
        "dask_address",
        inspect.Parameter.KEYWORD_ONLY,
        default=_RUNNER.address,
        annotation=Annotated[
            str | None,
            typer.Option(
                help="Dask scheduler, e.g. tcp://host:8786 (its workers need PREFECT_API_URL)"
            ),
        ],
    ),
]
Logs = Annotated[bool, typer.Option("--logs", help="show Prefect's run logs, no bar")]
LOGS_OPTION = inspect.Parameter(
    "logs", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=Logs
)


def runner_options(*, logs: bool = True) -> Callable[[F], F]:
    """Give a command ``--workers``, ``--dask``, ``--dask-address`` (defaults from
    :class:`RunnerSpec`) and, with ``logs``, ``--logs``. The command receives them as
    ``runner`` (a RunnerSpec dict) and ``logs`` keyword arguments."""

    def decorate(fn: F) -> F:
        sig = inspect.signature(fn)
        hints = typing.get_type_hints(fn, include_extras=True)  # typer needs objects, not strings
        kept = [
            p.replace(annotation=hints.get(p.name, p.annotation))
            for p in sig.parameters.values()
            if p.name not in ("runner", "logs")
        ]
        extra = [*_RUNNER_OPTIONS, *([LOGS_OPTION] if logs else [])]

        @functools.wraps(fn)
        def command(*args: Any, **kwargs: Any) -> Any:
            workers, dask, address = (kwargs.pop(k) for k in ("workers", "dask", "dask_address"))
            spec = {"kind": "dask" if dask or address else "local", "workers": workers}
            return fn(*args, runner=spec | {"address": address}, **kwargs)

        command.__signature__ = sig.replace(parameters=[*kept, *extra])  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in (*kept, *extra)}
        return command  # type: ignore[return-value]

    return decorate


@contextmanager
def _held_prefect_errors(verbose: bool) -> Iterator[list[logging.LogRecord]]:
    """Hold back Prefect's ERROR records (task and flow tracebacks) from the console while a flow
    runs. A user error then shows as one line; a bug gets them printed before its traceback."""
    held: list[logging.LogRecord] = []
    handlers = [
        h for h in logging.getLogger().handlers if type(h).__name__ == "PrefectConsoleHandler"
    ]
    handlers += [h for h in logging.getLogger("prefect").handlers if h not in handlers]

    def hold(record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and record.name.startswith("prefect"):
            held.append(record)
            return False
        return True

    if verbose:
        yield held
        return
    for h in handlers:
        h.addFilter(hold)
    try:
        yield held
    finally:
        for h in handlers:
            h.removeFilter(hold)


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
    """A rich progress bar fed by datasetgan.pipeline.progress (one line per kind of work)."""
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


@contextmanager
def flow_console(*, logs: bool, verbose: bool) -> Iterator[None]:
    """The console around a flow run: the bar (unless ``logs``), and Prefect's error records held
    back (unless ``verbose``) and printed only when the run fails with a bug."""
    held: list[logging.LogRecord] = []
    try:
        with _held_prefect_errors(verbose) as held, bar(not logs):
            yield
    except Exception as exc:
        if not is_user_error(exc):
            for record in held:
                logging.getLogger(record.name).handle(record)
        raise


_options = {"verbose": False}


def set_verbose(verbose: bool) -> None:
    """Remember the top-level ``-v`` (the group's callback calls this before any command)."""
    _options["verbose"] = verbose


def verbose_flag() -> bool:
    """Whether the top-level ``-v`` was given."""
    return _options["verbose"]


def run(
    flow_fn: Callable[[Any], dict[str, Any]], params: BaseModel, *, logs: bool
) -> dict[str, Any]:
    """Run a flow here and print its result table (errors: see :class:`Commands`)."""
    from prefect.settings import PREFECT_API_URL

    where = PREFECT_API_URL.value() or "none set: a temporary local server starts first (10-30 s)"
    console.print(f"[dim]{getattr(flow_fn, 'name', 'flow')}: Prefect API {where}[/]")
    with flow_console(logs=logs, verbose=verbose_flag()):
        result = flow_fn(params)
    show(result)
    return result


def show(result: dict[str, Any]) -> None:
    table = Table(show_header=False)
    for key, value in result.items():
        table.add_row(str(key), str(value))
    console.print(table)
