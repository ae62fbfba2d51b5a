"""The server's start-up heap, kept out of the garbage collector's full collections
(docs/decisions/0039).

CPython's cyclic collector stops the process while it walks every object of the
generation it collects. A full (generation 2) collection walks everything that has lived
long: the modules, FastAPI's routes and dependency graphs, pydantic's schemas, the
runtime. Measured in `careloop serve` under P5's load: such a collection took 60-88 ms,
ran several times a minute, freed 0 to a few hundred objects, and every request in
flight waited for it. Those objects live as long as the process; `gc.freeze()` moves
them to the collector's permanent generation, so later collections walk only what was
created since. A collection first frees what is garbage now, so nothing unreachable is
frozen with them."""

from __future__ import annotations

import gc


def freeze_startup_heap() -> int:
    """Collect, then freeze every object alive now; returns how many are frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
