"""PII detection and redaction: planted cases, look-alikes, and the labelled test set."""

import collections
import json
import os

import pytest

from starjax.data.prepare import pii
from tests.data.prepare import pii_testset


def _found(text, language="python"):
  return [(s.type, text[s.start:s.end]) for s in pii.detect(text, language)]


def test_emails_are_redacted_and_documentation_addresses_stay():
  text = "# by jane.doe@gmail.com; see docs@example.com, a@b.test, git@github.com:o/r.git"
  assert _found(text) == [("email", "jane.doe@gmail.com")]
  assert pii.redact_document(text)[0].startswith("# by <EMAIL>;")


def test_public_ips_become_one_of_five_private_ones_consistently_within_a_file():
  text = 'a = "52.14.200.7"\nb = "52.14.200.7"\nc = "2a00:1450:4001:82b::200e"\n'
  redacted, spans = pii.redact_document(text)
  assert [s.type for s in spans] == ["ip_address"] * 3
  assert spans[0].replacement == spans[1].replacement in pii.PRIVATE_REPLACEMENTS[4]
  assert spans[2].replacement in pii.PRIVATE_REPLACEMENTS[6]
  assert "52.14.200.7" not in redacted and "2a00:1450" not in redacted


@pytest.mark.parametrize("text", [
    'dns = "8.8.8.8"', 'dns = "1.1.1.1"', 'lan = "192.168.1.4"', 'lo = "127.0.0.1"',
    'v = "version 1.2.3.4"', 'pin = "pkg==10.2.3.4"', 'bad = "300.1.2.3"', 'six = "::1"',
    "evens = l[::2]", "odds = a[1::2]", "step = grid[10::20]", "std::vector<int> v; abc::def",
    'mac = "00:1a:2b:3c:4d:5e"', 'clock = "12:30:45"', 'dns6 = "2001:4860:4860::8888"'])
def test_ip_look_alikes_stay(text):
  assert _found(text) == []


def test_keys_from_detect_secrets_plugins_and_pem_blocks():
  text = ('aws = "AKIAIOSFODNN7EXAMPLE"\ntok = "ghp_abcdefghijklmnopqrstuvwxyz0123456789"\n'
          "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAx\nabcd\n-----END RSA PRIVATE KEY-----\n")
  found = _found(text)
  assert [k for k, _ in found] == ["key", "key", "key"]
  assert found[2][1] == "MIIEowIBAAKCAQEAx\nabcd"
  assert "-----BEGIN RSA PRIVATE KEY-----\n<KEY>\n-----END" in pii.redact_document(text)[0]


def test_hashes_uuids_and_base64_are_not_keys():
  text = ('sha = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"\n'
          'uid = "123e4567-e89b-12d3-a456-426614174000"\n'
          'img = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"\n')
  assert _found(text) == []


def test_passwords_are_keyword_scoped_and_placeholders_stay():
  assert _found('password = "hunter22x"') == [("password", "hunter22x")]
  assert _found("  password: s3cretValue\n", "yaml") == [("password", "s3cretValue")]
  assert _found('url = "postgres://admin:pw1234@db:5432/x"') == [("password", "pw1234")]
  for text in ('password = os.environ["DB_PASSWORD"]', 'password = ""', "password = get()",
               'password = "${DB_PASSWORD}"', "min_password_length: 8", "password = user_pw",
               'if password == "x":'):
    assert _found(text, "yaml" if ":" in text and "=" not in text else "python") == [], text


@pytest.mark.parametrize("text,names", [
    ('__author__ = "Jane Doe"', ["Jane Doe"]),
    ('__credits__ = ["Jane Doe", "Jean-Luc Picard"]', ["Jane Doe", "Jean-Luc Picard"]),
    (" * @author J. R. R. Tolkien\n", ["J. R. R. Tolkien"]),
    ("# Copyright (c) 2015-2019, María José García <mj@uni-bonn.de>", ["María José García"]),
    ("Copyright 2019 Jane Doe and Sean O'Brien. All rights reserved.", ["Jane Doe", "Sean O'Brien"]),
    ("Copyright 2020 Ana Silva, Wei Zhang & Ludwig van Beethoven", [
        "Ana Silva", "Wei Zhang", "Ludwig van Beethoven"]),
    ("Signed-off-by: Ahmed Hassan <ahmed@gmail.com>", ["Ahmed Hassan"]),
    ('"author": "Yuki Tanaka <yuki@web.de>",', ["Yuki Tanaka"]),
    ('authors = ["Olga Petrova <o@mail.ru>"]', ["Olga Petrova"]),
    ("//  Created by Raj Patel on 3/4/19.", ["Raj Patel"]),
])
def test_names_in_author_and_copyright_contexts(text, names):
  assert [v for t, v in _found(text) if t == "name"] == names
  redacted = pii.redact_document(text)[0]
  assert "<NAME>" in redacted and not any(n in redacted for n in names)


@pytest.mark.parametrize("text", [
    "Copyright (c) 2021 Google LLC", "Copyright 2018 The Kubernetes Authors.",
    "Copyright (c) Microsoft Corporation.", "Copyright (c) 2019, NVIDIA CORPORATION.",
    "Copyright 2002 Sun Microsystems, Inc.", "Copyright (C) 2007 Free Software Foundation, Inc.",
    "@author unascribed", "@author jdoe", '__author__ = "jdoe"', "Maintainer: Data Platform Team",
    "author = models.ForeignKey(User, on_delete=models.CASCADE)", "self.author = author",
    "Written by the Pandas Development Team", "Created by Xcode Server",
    "Copyright © 2010 Université Bordeaux", "Hello World, Jane Doe",  # no context: not searched
])
def test_organisations_handles_and_code_are_not_names(text):
  assert [v for t, v in _found(text) if t == "name"] == []


def test_only_requested_types_are_detected():
  text = 'e = "jane.doe@gmail.com"\npassword = "hunter22x"\n'
  assert [s.type for s in pii.detect(text, "python", types=("password",))] == ["password"]


def _metrics(records):
  tp, fp, fn = collections.Counter(), collections.Counter(), collections.Counter()
  for record in records:
    gold = {tuple(s) for s in record["spans"]}
    got = {(s.type, s.start, s.end) for s in pii.detect(record["text"], record["language"])}
    for span in got:
      (tp if span in gold else fp)[span[0]] += 1
    for span in gold - got:
      fn[span[0]] += 1
  return {t: {"precision": tp[t] / max(1, tp[t] + fp[t]), "recall": tp[t] / max(1, tp[t] + fn[t])}
          for t in ("email", "ip_address", "key", "password", "name")}


def test_labelled_set_is_the_one_the_generator_builds_and_large_enough():
  with open(pii_testset.PATH) as f:
    records = [json.loads(line) for line in f]
  assert records == pii_testset.build()
  counts = collections.Counter(s[0] for r in records for s in r["spans"])
  assert min(counts[t] for t in ("email", "ip_address", "key", "password", "name")) >= 300
  assert sum(r["lookalikes"] for r in records) >= 3000


def test_precision_and_recall_on_the_labelled_set_stay_at_the_recorded_values():
  with open(pii_testset.PATH) as f:
    records = [json.loads(line) for line in f]
  with open(os.path.join(os.path.dirname(__file__), "pii_metrics.json")) as f:
    recorded = json.load(f)
  measured = _metrics(records)
  for kind, values in measured.items():
    for metric, value in values.items():
      assert value >= recorded[kind][metric] - 1e-9, (kind, metric, value)
