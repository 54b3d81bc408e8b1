"""Data as it arrives and as it is kept: which landed files are complete, parsing and coercion
against the declared schema with quarantine of what does not fit, table sources, immutable
content-addressed snapshots, their export, retention and lineage (where every snapshot and every
model's data came from). Depends on ``core`` and on the metadata store *interface* only."""
