"""What the stages share about deciding a document's fate: the side output a removed document
goes to (with the stage and reason that the ledger records), and the license verdict that the
license filter and near-dedup's `quality` rule both use."""

from __future__ import annotations

from typing import Optional

import apache_beam as beam

from starjax.data import licenses

REMOVED = "removed"


def removed(doc: dict, stage: str, reason: str) -> beam.pvalue.TaggedOutput:
  """`doc` on the REMOVED side output, marked with the stage that removed it and why."""
  return beam.pvalue.TaggedOutput(REMOVED, dict(doc, stage=stage, decision="removed",
                                                 reason=reason))


def license_permissive(value) -> Optional[bool]:
  """True/False/None (unknown) for a `license` string or a list of them; None value → True."""
  if value is None or value == "" or value == []:
    return True
  values = value if isinstance(value, list) else [value]
  verdicts = []
  for v in values:
    parsed = licenses.license_from_field(str(v))
    verdicts.append(None if parsed is None else parsed.permissive)
  if False in verdicts:
    return False
  return None if None in verdicts else True
