"""Builds the labelled PII test set `pii_labelled.jsonl` (synthetic but realistic files).

Each line is one document: {"language", "text", "spans": [[type, start, end], ...]}. Spans are
the PII that must be redacted (email, ip_address, key, password, name); everything else in the text
must stay, including the look-alikes planted on purpose (version strings, hashes, UUIDs,
documentation addresses, private and DNS IPs, base64 data, slices, C++ scopes, MAC addresses,
times, password placeholders; organisations, handles and code where names would be). The generator is seeded: `python -m tests.data.prepare.pii_testset`
rewrites the same file.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import random
import string
import uuid

PATH = os.path.join(os.path.dirname(__file__), "pii_labelled.jsonl")
_FIRST = ("jane", "john", "maria", "wei", "olga", "ahmed", "lucas", "sofia", "raj", "emma",
          "noah", "yuki", "pierre", "anna", "carlos", "fatima", "ivan", "li", "sara", "tom")
_LAST = ("doe", "smith", "garcia", "zhang", "petrova", "hassan", "martin", "rossi", "patel",
         "jones", "kim", "tanaka", "dubois", "novak", "silva", "khan", "ivanov", "chen", "berg")
_DOMAINS = ("gmail.com", "outlook.com", "acme-corp.io", "fastmail.fm", "web.de", "uni-bonn.de",
            "company.co.uk", "startup.ai", "mail.ru", "yahoo.fr", "protonmail.ch", "tech.dev")
_WORDS = ("orange", "castle", "river", "falcon", "maple", "quartz", "tiger", "ember", "nova",
          "delta", "pixel", "harbor", "cobalt", "summit", "lunar", "cedar")


class Doc:
  """A document under construction: text pieces and the labelled spans among them."""

  def __init__(self, language: str):
    self.language = language
    self.parts: list[str] = []
    self.length = 0
    self.spans: list[list] = []
    self.lookalikes = 0

  def add(self, text: str) -> "Doc":
    self.parts.append(text)
    self.length += len(text)
    return self

  def pii(self, kind: str, value: str) -> "Doc":
    self.spans.append([kind, self.length, self.length + len(value)])
    return self.add(value)

  def lookalike(self, value: str) -> "Doc":
    self.lookalikes += 1
    return self.add(value)

  def record(self) -> dict:
    return {"language": self.language, "text": "".join(self.parts), "spans": self.spans,
            "lookalikes": self.lookalikes}


def _email(rng):
  first, last = rng.choice(_FIRST), rng.choice(_LAST)
  local = rng.choice((f"{first}.{last}", f"{first}{last[0]}", f"{first}_{last}{rng.randrange(99)}",
                      f"{first[0]}{last}"))
  return f"{local}@{rng.choice(_DOMAINS)}"


def _public_ipv4(rng):
  while True:
    address = ipaddress.IPv4Address(rng.randrange(1 << 32))
    if address.is_global and not address.is_multicast and str(address) not in (
        "8.8.8.8", "8.8.4.4", "1.1.1.1", "1.0.0.1", "9.9.9.9"):
      return str(address)


def _public_ipv6(rng):
  while True:
    groups = [f"{rng.randrange(0x2001, 0x2c00):x}"] + [f"{rng.randrange(1 << 16):x}"
                                                     for _ in range(7)]
    if rng.random() < 0.5:
      text = ":".join(groups[:3]) + "::" + groups[7]
    else:
      text = ":".join(groups)
    address = ipaddress.IPv6Address(text)
    if address.is_global:
      return str(address) if rng.random() < 0.5 else text


def _alnum(rng, n, alphabet=string.ascii_letters + string.digits):
  return "".join(rng.choice(alphabet) for _ in range(n))


def _key(rng):
  kind = rng.randrange(8)
  if kind == 0:
    return "AKIA" + _alnum(rng, 16, string.ascii_uppercase + string.digits)
  if kind == 1:
    return "ghp_" + _alnum(rng, 36)
  if kind == 2:
    return f"xoxb-{rng.randrange(10**11, 10**12)}-{rng.randrange(10**12, 10**13)}-" + _alnum(
        rng, 24, string.ascii_lowercase + string.digits)
  if kind == 3:
    return "sk_live_" + _alnum(rng, 24)
  if kind == 4:
    return "AIza" + _alnum(rng, 35, string.ascii_letters + string.digits + "_-")
  if kind == 5:
    header = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').decode().rstrip("=")
    payload = base64.urlsafe_b64encode(
        json.dumps({"sub": str(rng.randrange(10**9)), "name": rng.choice(_FIRST)}).encode()
    ).decode().rstrip("=")
    return f"{header}.{payload}.{_alnum(rng, 43, string.ascii_letters + string.digits + '_-')}"
  if kind == 6:
    return "SG." + _alnum(rng, 22) + "." + _alnum(rng, 43)
  return "hf_" + _alnum(rng, 34)


def _password(rng):
  kind = rng.randrange(4)
  if kind == 0:
    return rng.choice(_WORDS).capitalize() + str(rng.randrange(10, 9999)) + rng.choice("!@#$%&")
  if kind == 1:
    # a letter first: in YAML a bare value starting with `#` would be a comment
    return rng.choice(string.ascii_letters) + _alnum(rng, rng.randrange(9, 19),
                                                     string.ascii_letters + string.digits + "!@#%^&*")
  if kind == 2:
    return f"{rng.choice(_WORDS)}-{rng.choice(_WORDS)}-{rng.choice(_WORDS)}{rng.randrange(10)}"
  return "s3cr3t" + _alnum(rng, 6)


def _pem_body(rng):
  raw = bytes(rng.randrange(256) for _ in range(rng.choice((120, 240, 360))))
  text = base64.b64encode(raw).decode()
  return "\n".join(text[i:i + 64] for i in range(0, len(text), 64))


def _version(rng):
  parts = [str(rng.randrange(0, 30)) for _ in range(rng.choice((3, 4)))]
  return ".".join(parts)


def _lookalike_block(doc: Doc, rng) -> None:
  """One of many harmless strings that resemble PII."""
  kind = rng.randrange(16)
  if kind == 0:
    doc.add('__version__ = "').lookalike(_version(rng)).add('"\n')
  elif kind == 1:
    doc.add("# version ").lookalike(".".join(str(rng.randrange(1, 20)) for _ in range(4)))
    doc.add("\n")
  elif kind == 2:
    doc.add("checksum = ").lookalike(f'"{rng.getrandbits(256):064x}"').add("\n")
  elif kind == 3:
    doc.add("commit = ").lookalike(f'"{rng.getrandbits(160):040x}"').add("  # git sha\n")
  elif kind == 4:
    doc.add("request_id = ").lookalike(f'"{uuid.UUID(int=rng.getrandbits(128))}"').add("\n")
  elif kind == 5:
    local = rng.choice(("user", "alice", "bob", "admin", "noreply", "you"))
    domain = rng.choice(("example.com", "example.org", "example.net", "mail.example",
                         "host.test", "corp.invalid"))
    doc.add("# e.g. ").lookalike(f"{local}@{domain}").add("\n")
  elif kind == 6:
    private = rng.choice((
        f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
        f"192.168.{rng.randrange(256)}.{rng.randrange(1, 255)}",
        f"172.{rng.randrange(16, 32)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
        "127.0.0.1", "0.0.0.0", f"169.254.{rng.randrange(256)}.{rng.randrange(256)}",
        "::1", "fe80::1", f"fd00::{rng.randrange(1, 9999):x}", "255.255.255.0"))
    doc.add("bind_address = ").lookalike(f'"{private}"').add("\n")
  elif kind == 7:
    dns = rng.choice(("8.8.8.8", "8.8.4.4", "1.1.1.1", "1.0.0.1", "9.9.9.9",
                      "2001:4860:4860::8888", "2606:4700:4700::1111"))
    doc.add("nameserver ").lookalike(dns).add("\n")
  elif kind == 8:
    raw = bytes(rng.randrange(256) for _ in range(rng.choice((24, 48, 96))))
    doc.add("ICON = ").lookalike(f'"data:image/png;base64,{base64.b64encode(raw).decode()}"')
    doc.add("\n")
  elif kind == 9:
    doc.add("evens = ").lookalike(rng.choice(("items[::2]", "items[1::2]", "xs[::-1]",
                                              "grid[10::20]", "a[2::3]")))
    doc.add("\n")
  elif kind == 10:
    doc.add("// ").lookalike(rng.choice(("std::vector<int>", "abc::def", "Foo::Bar::baz()",
                                         "cafe::beef", "add::dead")))
    doc.add("\n")
  elif kind == 11:
    mac = ":".join(f"{rng.randrange(256):02x}" for _ in range(6))
    doc.add("mac = ").lookalike(f'"{mac}"').add("\n")
  elif kind == 12:
    doc.add("started_at = ").lookalike(
        f'"{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}"').add("\n")
  elif kind == 13:
    doc.add(rng.choice(("password = ", "db_password = ", "PASSWORD = ")))
    doc.lookalike(rng.choice(('os.environ["DB_PASSWORD"]', 'os.getenv("PASSWORD")', '""',
                              "getpass.getpass()", '"<password>"', '"${DB_PASSWORD}"',
                              '"changeme"', "None", '"********"', "settings.PASSWORD")))
    doc.add("\n")
  elif kind == 14:
    doc.add(rng.choice(("min_password_length = ", "password_max_age = ", "PASSWORD_RESET_TIMEOUT = ")))
    doc.lookalike(str(rng.randrange(1, 100))).add("\n")
  else:
    doc.add("pip install ").lookalike(f"package=={_version(rng)}").add("\n")


def _python(rng) -> Doc:
  doc = Doc("python")
  doc.add(f'"""Client for the {rng.choice(_WORDS)} service.\n\nMaintainer: ')
  doc.pii("email", _email(rng)).add('\n"""\n\nimport os\n\n')
  for _ in range(rng.randrange(4, 10)):
    _lookalike_block(doc, rng)
  doc.add('API_HOST = "').pii("ip_address", _public_ipv4(rng)).add('"\n')
  doc.add('API_KEY = "').pii("key", _key(rng)).add('"\n')
  doc.add('password = "').pii("password", _password(rng)).add('"\n')
  doc.add("\n\ndef connect(timeout=30):\n    return open_session(API_HOST, API_KEY, password)\n")
  return doc


def _yaml(rng) -> Doc:
  doc = Doc("yaml")
  doc.add("database:\n  host: ").pii("ip_address", _public_ipv4(rng)).add("\n  port: 5432\n")
  doc.add("  user: app\n  password: ").pii("password", _password(rng)).add("\n")
  doc.add("admin:\n  email: ").pii("email", _email(rng)).add("\n")
  for _ in range(rng.randrange(3, 8)):
    doc.add("# ")
    _lookalike_block(doc, rng)
  doc.add("upstream_v6: \"").pii("ip_address", _public_ipv6(rng)).add("\"\n")
  doc.add("token: ").pii("key", _key(rng)).add("\n")
  return doc


def _json(rng) -> Doc:
  doc = Doc("json")
  doc.add('{\n  "name": "').add(rng.choice(_WORDS)).add('",\n  "author": "')
  doc.add(rng.choice(_FIRST).title()).add(" <").pii("email", _email(rng)).add('>",\n')
  doc.add('  "db_password": "').pii("password", _password(rng)).add('",\n')
  doc.add('  "server": "').pii("ip_address", _public_ipv4(rng)).add('",\n')
  doc.add('  "version": "').lookalike(_version(rng)).add('",\n')
  doc.add('  "id": "').lookalike(str(uuid.UUID(int=rng.getrandbits(128)))).add('",\n')
  doc.add('  "sha256": "').lookalike(f"{rng.getrandbits(256):064x}").add('"\n}\n')
  return doc


def _notebook(rng) -> Doc:
  doc = Doc("jupyter")
  doc.add('{"cells": [{"cell_type": "code", "source": ["import requests\\n", "url = \'http://')
  doc.pii("ip_address", _public_ipv4(rng)).add(":8080/api'\\n\", \"headers = {'Authorization': '")
  doc.add("Bearer ").pii("key", _key(rng)).add("'}\\n\"]}, {\"cell_type\": \"markdown\", ")
  doc.add('"source": ["Questions: ').pii("email", _email(rng)).add('\\n"]}, ')
  doc.add('{"cell_type": "code", "source": ["x = data[::2]\\n", "print(\'')
  doc.lookalike("10.0.0.12").add("')\\n\"]}], \"nbformat\": 4}\n")
  return doc


def _config_with_pem(rng) -> Doc:
  doc = Doc("text")
  label = rng.choice(("RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY"))
  doc.add(f"# deploy key\n-----BEGIN {label}-----\n").pii("key", _pem_body(rng))
  doc.add(f"\n-----END {label}-----\n")
  doc.add("# public certificate fingerprint ").lookalike(
      ":".join(f"{rng.randrange(256):02X}" for _ in range(20))).add("\n")
  doc.add("url = postgres://app:").pii("password", _password(rng).replace("@", "9").replace(
      "#", "8").replace("%", "7")).add("@db.internal:5432/prod\n")
  return doc


def _javascript(rng) -> Doc:
  doc = Doc("javascript")
  doc.add("// Copyright ").add(rng.choice(_FIRST).title()).add(" ").pii("email", _email(rng))
  doc.add("\nconst config = {\n  endpoint: 'https://").pii("ip_address", _public_ipv4(rng))
  doc.add("/v1',\n  stripeKey: '").pii("key", _key(rng)).add("',\n  password: '")
  doc.pii("password", _password(rng)).add("',\n  retries: 3,\n};\n")
  for _ in range(rng.randrange(2, 6)):
    doc.add("// ")
    _lookalike_block(doc, rng)
  return doc


def _markdown(rng) -> Doc:
  doc = Doc("markdown")
  doc.add("# Setup\n\nAsk ").pii("email", _email(rng)).add(" for access. Point the client at ")
  doc.pii("ip_address", _public_ipv6(rng)).add(" or use the examples:\n\n```\n")
  for _ in range(rng.randrange(4, 9)):
    _lookalike_block(doc, rng)
  doc.add("```\n")
  return doc


def _code_only_lookalikes(rng) -> Doc:
  doc = Doc(rng.choice(("python", "cpp", "go")))
  for _ in range(rng.randrange(12, 24)):
    _lookalike_block(doc, rng)
  return doc


_PERSON_FIRST = ("Jane", "John", "María José", "Wei", "Olga", "Ahmed", "Lucas", "Sofia", "Raj",
                 "Emma", "Jean-Luc", "Yuki", "Pierre", "Anna", "Carlos", "Fatima", "Ivan",
                 "Zoë", "Søren", "Björn", "J. R.", "Mary Ann", "Seán", "Chiara", "Kwame")
_PERSON_LAST = ("Doe", "Smith", "García", "Zhang", "Petrova", "Hassan", "van der Berg", "Rossi",
                "Patel", "O'Brien", "Kim", "Tanaka", "Dubois", "Novák", "da Silva", "Khan",
                "Müller", "Smith-Jones", "de la Cruz", "McDonald", "Nakamura", "Ødegaard")
_ORGANISATIONS = ("Google LLC", "The Kubernetes Authors", "Microsoft Corporation",
                  "NVIDIA CORPORATION", "Free Software Foundation, Inc.", "Facebook, Inc.",
                  "The Go Authors", "Acme Labs", "the Pandas Development Team",
                  "The Apache Software Foundation", "Mozilla Foundation", "Data Platform Team",
                  "Contributors to the Example Project", "ACME GmbH", "Initech Ltd.")
_HANDLES = ("jdoe", "unascribed", "TODO", "admin", "root", "octocat", "mwong", "Unknown")


def _person(rng) -> str:
  return f"{rng.choice(_PERSON_FIRST)} {rng.choice(_PERSON_LAST)}"


def _years(rng) -> str:
  first = rng.randrange(1995, 2024)
  return rng.choice((str(first), f"{first}-{first + rng.randrange(1, 5)}", f"{first}-present"))


def _names(doc: Doc, rng, count: int, quote: str = "") -> Doc:
  """`count` names in a list joined as people write them, each labelled."""
  for i in range(count):
    if i:  # a list of strings, or prose
      doc.add(f"{quote}, {quote}" if quote else rng.choice((", ", " and ", " & ")))
    doc.pii("name", _person(rng))
  return doc


def _name_lookalike(doc: Doc, rng, comment: str) -> None:
  """A line that names no person: an organisation, a handle, code or a template."""
  kind = rng.randrange(6)
  doc.add(comment)
  if kind == 0:
    doc.add(f"Copyright (c) {_years(rng)} ").lookalike(rng.choice(_ORGANISATIONS))
  elif kind == 1:
    doc.add(rng.choice(("@author ", "Author: ", "Maintainer: "))).lookalike(rng.choice(_HANDLES))
  elif kind == 2:
    doc.lookalike(rng.choice(("author = models.ForeignKey(User, on_delete=models.CASCADE)",
                              "self.author = author", "Author: {{ post.author }}",
                              '"author": "${AUTHOR}"', "authors = load_authors(path)")))
  elif kind == 3:
    doc.add(rng.choice(("Written by ", "Maintained by ", "Created by "))).lookalike(
        rng.choice(_ORGANISATIONS))
  elif kind == 4:
    doc.add("Licensed under the ").lookalike(rng.choice(("Apache License, Version 2.0",
                                                         "MIT License", "GNU General Public License")))
  else:
    doc.add(rng.choice(("See ", "Thanks to ", "Ported from "))).lookalike(
        rng.choice(("Quick Start Guide", "Hello World", "Stack Overflow", "Hacker News")))
  doc.add("\n")


def _python_names(rng) -> Doc:
  doc = Doc("python")
  doc.add('"""Utilities for the ').add(rng.choice(_WORDS)).add(" service.\n\nAuthor: ")
  doc.pii("name", _person(rng)).add(" <").pii("email", _email(rng)).add('>\n"""\n\n')
  doc.add('__author__ = "').pii("name", _person(rng)).add('"\n__credits__ = ["')
  _names(doc, rng, rng.randrange(1, 4), quote='"').add('"]\n')
  for _ in range(rng.randrange(1, 4)):
    _name_lookalike(doc, rng, "# ")
  return doc


def _java_names(rng) -> Doc:
  doc = Doc("java")
  doc.add(f"/*\n * Copyright (c) {_years(rng)} ")
  _names(doc, rng, rng.randrange(1, 3)).add(". All rights reserved.\n */\n")
  doc.add("/**\n * Parses the input.\n *\n * @author ").pii("name", _person(rng)).add("\n")
  for _ in range(rng.randrange(1, 4)):
    _name_lookalike(doc, rng, " * ")
  doc.add(" */\npublic final class Parser {}\n")
  return doc


def _metadata_names(rng) -> Doc:
  if rng.random() < 0.5:
    doc = Doc("json")
    doc.add('{\n  "name": "').add(rng.choice(_WORDS)).add('",\n  "author": "')
    doc.pii("name", _person(rng)).add(" <").pii("email", _email(rng)).add('>",\n')
    doc.add('  "license": "MIT"\n}\n')
  else:
    doc = Doc("toml")
    doc.add('[package]\nname = "').add(rng.choice(_WORDS)).add('"\nauthors = ["')
    doc.pii("name", _person(rng)).add(" <").pii("email", _email(rng)).add('>"]\n')
  _name_lookalike(doc, rng, "# ")
  return doc


def _commit_and_header_names(rng) -> Doc:
  doc = Doc("text")
  doc.add("Fix the parser on empty input\n\n")
  doc.add(rng.choice(("Signed-off-by: ", "Co-authored-by: ", "Reviewed-by: ")))
  doc.pii("name", _person(rng)).add(" <").pii("email", _email(rng)).add(">\n")
  doc.add("//\n//  Parser.swift\n//  Created by ").pii("name", _person(rng))
  doc.add(f" on {rng.randrange(1, 13)}/{rng.randrange(1, 29)}/{rng.randrange(10, 24)}.\n")
  doc.add(f"//  Copyright © {_years(rng)} ").lookalike(rng.choice(_ORGANISATIONS))
  doc.add(". All rights reserved.\n")
  return doc


_BUILDERS = (_python, _yaml, _json, _notebook, _config_with_pem, _javascript, _markdown,
             _code_only_lookalikes)
# Names came later: their documents follow with their own generator, so that adding them left
# the first 640 documents (and their recorded metrics) as they were.
_NAME_BUILDERS = (_python_names, _java_names, _metadata_names, _commit_and_header_names)


def build(seed: int = 12, documents: int = 640, name_documents: int = 160) -> list[dict]:
  rng = random.Random(seed)
  records = [_BUILDERS[i % len(_BUILDERS)](rng).record() for i in range(documents)]
  rng = random.Random(seed + 1)
  records += [_NAME_BUILDERS[i % len(_NAME_BUILDERS)](rng).record()
              for i in range(name_documents)]
  return records


def main() -> None:
  records = build()
  with open(PATH, "w") as f:
    for record in records:
      f.write(json.dumps(record, sort_keys=True) + "\n")
  counts = {}
  for record in records:
    for kind, _, _ in record["spans"]:
      counts[kind] = counts.get(kind, 0) + 1
  print(f"{PATH}: {len(records)} documents, spans {counts}, "
        f"look-alikes {sum(r['lookalikes'] for r in records)}")


if __name__ == "__main__":
  main()
