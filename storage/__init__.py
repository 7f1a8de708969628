"""Sharded HDF5 stores (samples and embeddings), atomic shard writers, resume, readers and exports.

Never imports prefect or models. See docs/storage.md for the on-disk schema.
"""

from datasetgan.storage.dataset import SegmentationDataset
from datasetgan.storage.entry import ENTRY_NAME, EntryInfo, ShardRecord, keep_rows, load_entry
from datasetgan.storage.errors import (
    NotAStoreError,
    SchemaError,
    ShardError,
    StorageError,
    WriterError,
)
from datasetgan.storage.export import export_pngs
from datasetgan.storage.manifest import read_fields, read_manifest
from datasetgan.storage.schema import (
    KNOWN_SCHEMA_VERSIONS,
    SCHEMA_VERSION,
    Compression,
    EmbeddingStatus,
    FieldSpec,
    Provenance,
    StoreSpec,
    default_palette,
    embeddings_spec,
    samples_spec,
    sha256_file,
)
from datasetgan.storage.shards import ShardSlot, ShardWriter
from datasetgan.storage.store import ShardedStore

__all__ = [
    "ENTRY_NAME",
    "KNOWN_SCHEMA_VERSIONS",
    "SCHEMA_VERSION",
    "Compression",
    "EmbeddingStatus",
    "EntryInfo",
    "FieldSpec",
    "NotAStoreError",
    "Provenance",
    "SchemaError",
    "SegmentationDataset",
    "ShardError",
    "ShardRecord",
    "ShardSlot",
    "ShardWriter",
    "ShardedStore",
    "StorageError",
    "StoreSpec",
    "WriterError",
    "default_palette",
    "embeddings_spec",
    "export_pngs",
    "keep_rows",
    "load_entry",
    "read_fields",
    "read_manifest",
    "samples_spec",
    "sha256_file",
]
