"""`ShardedStore`: a directory of shards, its spec, its entry file, resume and append.

Layout of a store directory:

    store.json              spec + provenance (source of truth, written once by `create`), and the
                            reader default `drop_uncertain` (`set_drop_uncertain`)
    data.h5                 entry file: one virtual dataset per field over all complete shards
    shards/shard-00000.h5   samples 0 .. S-1 (S = spec.shard_size)
    shards/shard-00001.h5   samples S .. 2S-1, ...
    .lock                   serialises entry rebuilds between processes

Sample i always lives in shard i // S at row i % S, whichever process wrote it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from datasetgan.storage.entry import ENTRY_NAME, EntryInfo, ShardRecord, load_entry, write_entry
from datasetgan.storage.errors import NotAStoreError, SchemaError, WriterError
from datasetgan.storage.manifest import read_manifest
from datasetgan.storage.schema import SCHEMA_VERSION, Provenance, StoreSpec, check_schema_version
from datasetgan.storage.shards import (
    SHARD_DIR,
    ShardSlot,
    ShardWriter,
    check_shard,
    fsync_path,
    parse_shard_name,
    parse_tmp_name,
    shard_name,
)

SPEC_NAME = "store.json"
LOCK_NAME = ".lock"


def package_version() -> str:
    try:
        return metadata.version("datasetgan-pipeline")
    except metadata.PackageNotFoundError:
        return "unknown"


def store_dir_of(path: str | Path) -> Path:
    """The store directory for `path`: the directory itself, or its `data.h5` / `store.json`."""
    p = Path(path)
    if p.is_dir():
        return p
    if p.name in (ENTRY_NAME, SPEC_NAME):
        return p.parent
    raise NotAStoreError(
        p, "is neither a store directory nor its data.h5/store.json", "a store path"
    )


class ShardedStore:
    """A sharded HDF5 store on disk. Make one with `create` or `open`; never holds files open."""

    def __init__(
        self, path: Path, spec: StoreSpec, provenance: Provenance, drop_uncertain: float = 0.0
    ) -> None:
        self.path = path
        self.spec = spec
        self.provenance = provenance
        self.drop_uncertain = drop_uncertain

    # ---- creation and opening -------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: str | Path,
        spec: StoreSpec,
        *,
        provenance: Provenance | None = None,
        exist_ok: bool = False,
    ) -> ShardedStore:
        """Create an empty store at directory `path`.

        With `exist_ok`, an existing store is opened instead if its fields, classes, shard size and
        fingerprints match (SchemaError otherwise): re-running a build resumes it.
        """
        root = Path(path)
        (root / SHARD_DIR).mkdir(parents=True, exist_ok=True)
        prov = _stamp(provenance or Provenance())
        with _lock(root):
            exists = (root / SPEC_NAME).exists()
            if not exists:
                meta = {
                    "schema_version": SCHEMA_VERSION,
                    "spec": spec.to_dict(),
                    "provenance": prov.to_dict(),
                }
                _write_json_atomic(root / SPEC_NAME, meta)
                write_entry(root, spec, prov, [])
                return cls(root, spec, prov)
        if not exist_ok:
            raise SchemaError(
                root, "a store already exists here", "an empty directory (or exist_ok=True)"
            )
        existing = cls.open(root)
        existing._check_compatible(spec, prov)
        existing.refresh_entry()  # catches up if a writer died between its rename and its rebuild
        return existing

    @classmethod
    def open(cls, path: str | Path) -> ShardedStore:
        """Open the store at `path` (its directory, data.h5 or store.json) for writing or inspection."""
        root = store_dir_of(path)
        spec_path = root / SPEC_NAME
        data = _read_meta(spec_path)
        check_schema_version(data.get("schema_version"), spec_path)
        spec = StoreSpec.from_dict(data.get("spec", {}), spec_path)
        try:
            prov = Provenance(**data["provenance"])
        except (KeyError, TypeError, ValueError) as exc:
            raise SchemaError(
                spec_path, f"invalid provenance ({exc})", "the store's provenance"
            ) from exc
        return cls(root, spec, prov, _drop_of(data, spec_path))

    def _check_compatible(self, spec: StoreSpec, prov: Provenance) -> None:
        where = self.path / SPEC_NAME
        if spec.layout() != self.spec.layout() or spec.shard_size != self.spec.shard_size:
            raise SchemaError(
                where,
                f"existing store has layout {self.spec.layout()} with shard_size {self.spec.shard_size}",
                f"the requested {spec.layout()} with shard_size {spec.shard_size}",
            )
        if prov.fingerprints and dict(prov.fingerprints) != dict(self.provenance.fingerprints):
            raise SchemaError(
                where,
                f"existing store was produced by {dict(self.provenance.fingerprints)}",
                f"the same producers as requested ({dict(prov.fingerprints)})",
            )

    # ---- paths and plans --------------------------------------------------------------------------

    @property
    def entry_path(self) -> Path:
        return self.path / ENTRY_NAME

    @property
    def shard_dir(self) -> Path:
        return self.path / SHARD_DIR

    def shard_path(self, index: int) -> Path:
        return self.shard_dir / shard_name(index)

    def plan(self, n_samples: int) -> list[ShardSlot]:
        """The shards that hold samples 0 .. n_samples-1: shard k holds [k*S, min((k+1)*S, n))."""
        if n_samples < 0:
            raise ValueError(f"got n_samples {n_samples}, expected >= 0")
        s = self.spec.shard_size
        return [ShardSlot(k, k * s, min((k + 1) * s, n_samples)) for k in range(-(-n_samples // s))]

    def complete_shards(self) -> list[int]:
        """Indices of the shards that landed (checked against the spec), sorted."""
        return sorted(self._scan())

    def pending(self, n_samples: int) -> list[ShardSlot]:
        """The slots of `plan(n_samples)` still to write; complete shards are never rewritten."""
        done = set(self._scan())
        return [slot for slot in self.plan(n_samples) if slot.index not in done]

    def partial_shards(self) -> list[int]:
        """Shards with a temporary file and no final file (a writer is running or was killed)."""
        done = set(self._scan())
        tmp = {parse_tmp_name(p.name) for p in self.shard_dir.iterdir()}
        return sorted(i for i in tmp if i is not None and i not in done)

    # ---- writing --------------------------------------------------------------------------------

    def writer(self, slot: ShardSlot, *, refresh_entry: bool = True) -> ShardWriter:
        """A writer for shard `slot.index`; `refresh_entry` rebuilds data.h5 when it commits."""
        s = self.spec.shard_size
        if slot.start != slot.index * s or not 1 <= slot.n_samples <= s:
            raise ValueError(
                f"got slot {slot}, expected start {slot.index * s} and 1..{s} samples (use store.plan)"
            )
        if self.shard_path(slot.index).exists():
            raise WriterError(
                self.shard_path(slot.index),
                "shard is already complete",
                "a shard that has not landed",
            )
        on_commit = (lambda _p: self.refresh_entry()) if refresh_entry else None
        return ShardWriter(self.shard_dir, self.spec, slot, on_commit=on_commit)

    def write_shard(
        self, slot: ShardSlot, arrays: Mapping[str, Any], *, refresh_entry: bool = True
    ) -> Path:
        """Write a whole shard at once: `arrays[name]` is [slot.n_samples, *field.shape]."""
        with self.writer(slot, refresh_entry=refresh_entry) as w:
            w.append(arrays)
        return w.final_path

    def refresh_entry(self) -> Path:
        """Rebuild data.h5 over every complete shard (atomically, serialised between processes).

        The `drop_uncertain` it records is re-read from store.json, so another process's
        `set_drop_uncertain` is kept.
        """
        with _lock(self.path):
            spec_path = self.path / SPEC_NAME
            self.drop_uncertain = _drop_of(_read_meta(spec_path), spec_path)
            return self._write_entry()

    def set_drop_uncertain(self, fraction: float) -> Path:
        """Make readers leave out the `fraction` most uncertain samples (highest `score`, NaN first)
        by default: recorded in store.json (kept by every later rebuild: appends, resumes) and in
        data.h5 (attribute `drop_uncertain`, dataset `manifest/kept`), which it rebuilds. Nothing in
        the shards changes; `SegmentationDataset(path, drop_uncertain=0.0)` still reads everything.
        """
        fraction = _check_fraction(fraction, "fraction")
        spec_path = self.path / SPEC_NAME
        with _lock(self.path):
            data = _read_meta(spec_path)
            data["drop_uncertain"] = fraction
            _write_json_atomic(spec_path, data)
            self.drop_uncertain = fraction
            return self._write_entry()

    def _write_entry(self) -> Path:
        """Rebuild data.h5 (caller holds the lock)."""
        records = list(self._scan().values())
        return write_entry(
            self.path, self.spec, self.provenance, records, drop_uncertain=self.drop_uncertain
        )

    def remove_tmp(self) -> list[Path]:
        """Delete temporary shard files; call only when no writer is running. Returns what it removed."""
        removed = []
        for p in self.shard_dir.iterdir():
            if parse_tmp_name(p.name) is not None:
                p.unlink(missing_ok=True)
                removed.append(p)
        return removed

    # ---- reading --------------------------------------------------------------------------------

    def validate(self, *, deep: bool = False) -> EntryInfo:
        """Check data.h5 and the shards it lists (deep: open every shard); ShardError naming a bad one."""
        return load_entry(self.entry_path, verify="deep" if deep else "stat")

    def manifest(self) -> pd.DataFrame:
        """One row per sample: sample, shard, row and the store's scalar fields (see `read_manifest`)."""
        return read_manifest(self.entry_path)

    def _scan(self) -> dict[int, ShardRecord]:
        """Complete shards on disk; files unchanged since the entry listed them are not reopened."""
        known: dict[int, ShardRecord] = {}
        with contextlib.suppress(Exception):
            known = {r.index: r for r in load_entry(self.entry_path, verify="none").records}
        found: dict[int, ShardRecord] = {}
        for p in sorted(self.shard_dir.iterdir()):
            index = parse_shard_name(p.name)
            if index is None:
                continue
            st = p.stat()
            rec = known.get(index)
            if rec is None or (rec.size_bytes, rec.mtime_ns) != (st.st_size, st.st_mtime_ns):
                h = check_shard(p, self.spec)
                rec = ShardRecord(index, h.sample_start, h.n_samples, st.st_size, st.st_mtime_ns)
            found[index] = rec
        return found


def _read_meta(spec_path: Path) -> dict[str, Any]:
    try:
        data = json.loads(spec_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotAStoreError(
            spec_path, "is missing", "a store created by ShardedStore.create"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise NotAStoreError(spec_path, f"is not valid JSON ({exc})", "the store's spec") from exc
    if not isinstance(data, dict):
        raise NotAStoreError(spec_path, "is not a JSON object", "the store's spec")
    return data


def _check_fraction(value: object, name: str) -> float:
    """`value` as a float in [0, 1), else ValueError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"got {name} {value!r}, expected a fraction in [0, 1)")
    f = float(value)
    if not 0.0 <= f < 1.0:  # also refuses NaN
        raise ValueError(f"got {name} {value!r}, expected a fraction in [0, 1)")
    return f


def _drop_of(data: Mapping[str, Any], spec_path: Path) -> float:
    """store.json's `drop_uncertain` (0.0 when absent); SchemaError when it is not a fraction."""
    try:
        return _check_fraction(data.get("drop_uncertain", 0.0), "drop_uncertain")
    except ValueError as exc:
        raise SchemaError(spec_path, str(exc), "drop_uncertain in [0, 1)") from exc


def _stamp(prov: Provenance) -> Provenance:
    created = prov.created or datetime.now(timezone.utc).isoformat(timespec="seconds")
    version = prov.package_version or package_version()
    return Provenance(prov.fingerprints, prov.config_json, version, created)


def _write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
    fsync_path(tmp)
    os.replace(tmp, path)
    fsync_path(path.parent)


@contextlib.contextmanager
def _lock(root: Path) -> Iterator[None]:
    """Exclusive advisory lock on `root/.lock` (POSIX flock; local filesystems)."""
    fd = os.open(root / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
