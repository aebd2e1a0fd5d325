"""`run.py data prepare`: BigCode's data governance steps as one Apache Beam pipeline.

    license/quality filters → opt-out → exact dedup → near-dedup (MinHash LSH)
      → PII redaction → decontamination

The output is a Stack-format root (`data/<language>/*.parquet`, the input's columns) plus
`ledger/` (one parquet row per input document: which stage decided what, and why),
`manifest.json` (input/output fingerprints, config, code version) and `report.md`.

Modules, one idea each: `stages` (gin options of every stage), `documents` (reading and
writing Stack shards), `opt_out`, `minhash` (shingles and signatures), `components`
(connected components in Beam), `near_dedup` (the LSH transform), `decision` (a removed
document's side output, the license verdict), `pii`, `decontamination` (and its registry of
benchmark strings), `ledger`, `report`, `commit` (atomic output), `pipeline`, `cli`.
Importing this package is cheap: Beam is imported by `pipeline` (and `near_dedup`,
`decision`, `components`, which only it uses).
"""
