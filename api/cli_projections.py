"""`careloop projections rebuild` and `careloop projections compare`: blue/green rebuilds
with a progress bar, and analysts' what-if rebuilds into scratch copies."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from projections.platform.projection import UnknownParameterError
from projections.platform.rebuild import (
    RebuildRunningError,
    ScratchNameError,
    UnknownProjectionError,
)

if TYPE_CHECKING:
    from bootstrap.runtime import Runtime

console = Console()


def _settings_pairs(pairs: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--set")
        params[key.strip()] = value.strip()
    return params


def _bar() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]} events/s"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
    )


def rebuild(
    name: Annotated[str, typer.Argument(help="The read model, as `projections status` lists")],
    into: Annotated[
        str | None,
        typer.Option(help="Fold into this scratch copy instead, never swapped in (what-if)"),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="KEY=VALUE: a fold parameter changed for a what-if"),
    ] = None,
) -> None:
    """Refold a read model from position 0 into new tables beside the live ones and swap
    them in when they reach the head; the live one keeps answering meanwhile. Run it again
    after an interruption: it resumes where it was."""
    from api.cli import _friendly, _refuse, _require_database, _runtime
    from bootstrap.settings import get_settings

    params = _settings_pairs(set_ or [])
    if params and into is None:
        _refuse("--set changes a what-if rebuild's fold: give it a scratch name with --into")
    _require_database(get_settings())
    with _friendly():
        runtime = _runtime()
        try:
            _rebuild(runtime, name, into, params)
        finally:
            runtime.close()


def _rebuild(runtime: Runtime, name: str, into: str | None, params: dict[str, str]) -> None:
    from api.cli import _refuse

    rebuilds = runtime.rebuilds
    target = into or name
    try:
        record = rebuilds.start(name, into, params)
        console.print(f"rebuilding {name}" + (f" into {into}" if into else "") + _shown(params))
    except UnknownProjectionError:
        _refuse(f"there is no read model named {name!r}: `careloop projections status` lists them")
    except (UnknownParameterError, ScratchNameError) as e:
        _refuse(str(e))
    except RebuildRunningError:
        record = rebuilds.record(target) or {}
        console.print(f"a rebuild of {target} started at {record.get('started_at')}: resuming it")
    stop = threading.Event()
    with _bar() as bar:
        task = bar.add_task(target, total=max(runtime.log.head(), 1), rate="-")
        started = time.monotonic()
        first: list[int] = []

        def moved(position: int, head: int) -> None:
            first.append(position) if not first else None
            seconds = time.monotonic() - started
            rate = (position - first[0]) / seconds if seconds > 0 else 0.0
            bar.update(task, completed=position, total=max(head, 1), rate=f"{rate:,.0f}")

        try:
            outcome = rebuilds.drive(target, stop, moved)
            while outcome == "busy":  # another process drives it: show its progress
                progress = rebuilds.progress(target)
                if progress is None or progress.status != "rebuilding":
                    outcome = "done"
                    break
                bar.update(
                    task,
                    completed=progress.position,
                    total=max(progress.head_position, 1),
                    rate=f"{progress.events_per_second:,.0f}",
                )
                time.sleep(0.5)
        except KeyboardInterrupt:
            stop.set()
            console.print("interrupted: run the same command again to resume")
            raise typer.Exit(130) from None
    final = rebuilds.progress(target)
    assert final is not None
    where = f"scratch copy {into}" if into else "live"
    console.print(
        f"{target}: done at position {final.position} ({where}), "
        f"{final.events_per_second:,.0f} events/s"
    )


def _shown(params: dict[str, str]) -> str:
    return (" with " + ", ".join(f"{k}={v}" for k, v in params.items())) if params else ""


def compare(
    name: Annotated[str, typer.Argument(help="The live read model")],
    scratch: Annotated[str, typer.Argument(help="A what-if rebuild of it (`--into`)")],
    since: Annotated[str | None, typer.Option(help="Count rows from this ISO date/time on")] = None,
    until: Annotated[str | None, typer.Option(help="…and before this one")] = None,
) -> None:
    """Compare a what-if rebuild with the live read model: each figure the read model
    declares (e.g. workouts that would have had a summary card), live against what-if."""
    from api.cli import _friendly, _refuse, _require_database, _runtime
    from bootstrap.settings import get_settings

    _require_database(get_settings())
    with _friendly():
        runtime = _runtime()
        try:
            record = runtime.rebuilds.record(scratch)
            rows = list(runtime.rebuilds.compare(name, scratch, since, until))
        except UnknownProjectionError as e:
            _refuse(f"nothing to compare: {e}")
        finally:
            runtime.close()
    assert record is not None
    window = f" from {since or 'the start'} until {until or 'now'}" if since or until else ""
    table = Table(
        "figure",
        "live",
        f"{scratch}{_shown({k: str(v) for k, v in record['params'].items()})}",
        "difference",
        title=f"{name}: live against what-if{window}",
    )
    for figure, _, live, what_if in rows:
        table.add_row(figure, f"{live:,}", f"{what_if:,}", f"{what_if - live:+,}")
    console.print(table)
    for figure, help_text, *_ in rows:
        console.print(f"[dim]{figure}: {help_text}[/dim]")
