"""`careloop keys rotate`: a new master key for every patient's data key."""

from __future__ import annotations

import os
import sys

import typer

from bootstrap.settings import decode_master_key, get_settings

keys_app = typer.Typer(help="The patients' data keys and the master key.", no_args_is_help=True)


@keys_app.command("rotate")
def rotate() -> None:
    """Re-wrap every patient's data key with a new master key, in one transaction; the
    event log and the read models are not touched. Embedded default: a new random key
    replaces the data directory's master.key. Production: the new key is read from
    CARELOOP_NEW_MASTER_KEY (never from the command line, which other users can see);
    then set CARELOOP_MASTER_KEY to it and restart every process."""
    from bootstrap import master_key
    from domain.privacy.cipher import WrongMasterKeyError

    settings = get_settings()
    new_text = os.environ.get("CARELOOP_NEW_MASTER_KEY")
    try:
        new_key = decode_master_key(new_text) if new_text else None
        count = master_key.rotate(settings, new_key)
    except (ValueError, WrongMasterKeyError) as e:
        print(f"careloop: {e}", file=sys.stderr)
        raise typer.Exit(2) from None
    print(f"re-wrapped {count} data keys with the new master key")
    if new_key is not None:
        print("now set CARELOOP_MASTER_KEY to CARELOOP_NEW_MASTER_KEY and restart every process")


@keys_app.command("reapply-erasures")
def reapply_erasures() -> None:
    """Destroy the data key of every patient whose erasure is in the event log: run it
    after restoring the key store from a backup (which does not know of the erasures
    recorded since)."""
    from bootstrap.runtime import Runtime
    from domain.privacy.application import reapply_erasures as reapply

    runtime = Runtime(get_settings())
    try:
        count = reapply(runtime.log, runtime.keys)
    finally:
        runtime.close()
    print(f"destroyed {count} data keys of erased patients")
