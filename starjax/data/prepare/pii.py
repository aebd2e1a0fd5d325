"""Personal and secret data in source files: detection (spans) and redaction (placeholders).

Types (BigCode's StarCoder PII redaction; names without its NER model, which is not available
offline):

- `email` → `<EMAIL>`: addresses with a real-looking domain (a two-letter country code or a
  common generic TLD). Reserved documentation domains (example.com/.org/.net, `*.example`,
  `*.test`, `*.invalid`, `*.localhost`) and SSH remotes (`git@host`) stay.
- `ip_address` → one of five fixed private addresses of the same version (chosen by a hash of
  the address, so the same address gets the same replacement everywhere). Private, loopback,
  link-local, reserved, multicast and unparseable addresses and well-known public DNS
  resolvers (8.8.8.8, 1.1.1.1, …) stay; so do dotted quads after a version word
  (`version 1.2.3.4`). IPv6 candidates need three non-empty groups, or two with one of at least
  three hex digits, and a digit somewhere: `l[::2]`, `a[1::2]` and C++'s `abc::def` are not
  addresses even though `ipaddress` accepts them.
- `key` → `<KEY>`: the regular expressions of detect-secrets' key-format plugins (AWS,
  GitHub, GitLab, Slack, Stripe, JWT, …), a few well-known formats it lacks (Google API keys,
  Hugging Face and GitHub fine-grained tokens), and the bodies of PEM private-key blocks.
- `password` → `<PASSWORD>`: keyword-scoped values (`password = "…"`, `"db_password": "…"`,
  `PASSWORD: …` in config files, `://user:pass@host`). In code the value must be a string
  literal; placeholders (`""`, `"${DB_PASSWORD}"`, `"<password>"`, `"changeme"`, …) stay.
- `name` → `<NAME>`: people's names where code states them (author, maintainer and copyright
  lines, commit trailers, package metadata); organisations and handles stay (`pii_names`).

Detection (`detect`) returns sorted, non-overlapping spans; redaction (`redact`) replaces them.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib
import inspect
import ipaddress
import pkgutil
import re
from typing import Iterable, Optional, Sequence

from starjax.data.prepare import pii_names

PLACEHOLDERS = {"email": "<EMAIL>", "key": "<KEY>", "password": "<PASSWORD>", "name": "<NAME>"}
PRIVATE_REPLACEMENTS = {
    4: ("10.0.0.1", "10.0.1.2", "172.16.0.3", "192.168.0.4", "192.168.1.5"),
    6: ("fd00::1", "fd00::2", "fd00:1::3", "fd00:2::4", "fd00:3::5"),
}
WELL_KNOWN_DNS = frozenset({
    "8.8.8.8", "8.8.4.4", "1.1.1.1", "1.0.0.1", "9.9.9.9", "149.112.112.112",
    "208.67.222.222", "208.67.220.220", "64.6.64.6", "64.6.65.6", "4.2.2.1", "4.2.2.2",
    "2001:4860:4860::8888", "2001:4860:4860::8844", "2606:4700:4700::1111",
    "2606:4700:4700::1001", "2620:fe::fe", "2620:fe::9", "2620:119:35::35", "2620:119:53::53",
})
_GENERIC_TLDS = frozenset(
    "com org net edu gov mil int info biz io dev ai app cloud tech name pro mobi xyz site online "
    "email me tv cc page blog codes systems solutions studio design network software "
    "company group global world".split())
_RESERVED_DOMAINS = re.compile(r"(^|\.)(example\.(com|org|net)|example|test|invalid|localhost)$",
                               re.IGNORECASE)
_CONFIG_LANGUAGES = frozenset({
    "yaml", "ini", "toml", "properties", "dotenv", "env", "java-properties", "conf", "json",
    "dockerfile", "makefile", "shell", "bash", "text"})
_PASSWORD_PLACEHOLDERS = frozenset({
    "", "none", "null", "nil", "true", "false", "password", "passwd", "your_password",
    "yourpassword", "your-password", "<password>", "changeme", "change_me", "secret", "xxx",
    "xxxx", "xxxxxx", "xxxxxxxx", "***", "****", "******", "********", "...", "redacted",
    "<redacted>", "placeholder", "example", "todo", "str", "string", "optional[str]"})

_EMAIL = re.compile(
    r"(?<![\w.%+-])([A-Za-z0-9][A-Za-z0-9._%+-]{0,63})@((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}"
    r"[A-Za-z0-9])?\.)+([A-Za-z]{2,24}))(?![\w-]|\.[A-Za-z0-9])")
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)")
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:.(])")
_VERSION_CONTEXT = re.compile(
    r"(?i)(version|\bver\b|\bv|release|\brev\b|build|firmware)[\s:=\"'_-]{0,6}$"
    r"|[=<>~!]=\s*[\"']?$")  # `package==1.2.3.4` pins a version
_PEM_BLOCK = re.compile(
    r"-----BEGIN ((?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP |SSH2 ENCRYPTED )?PRIVATE KEY"
    r"(?: BLOCK)?)-----\s*\n(.*?)\n\s*-----END \1-----", re.DOTALL)
_EXTRA_KEY_PATTERNS = (
    re.compile(r"(?<![\w-])AIza[0-9A-Za-z_-]{35}(?![\w-])"),  # Google API key
    re.compile(r"(?<![\w-])hf_[A-Za-z0-9]{34,40}(?![\w-])"),  # Hugging Face token
    re.compile(r"(?<![\w-])github_pat_[A-Za-z0-9_]{60,90}(?![\w-])"),
    re.compile(r"(?<![\w-])sk-(?:proj-|ant-)?[A-Za-z0-9_-]{40,120}(?![\w-])"),
    # a whole JWT (detect-secrets' pattern stops before the signature)
    re.compile(r"(?<![\w-])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}"),
)
# detect-secrets plugins not used for keys: IPs, PEM headers and URL passwords have their own
# rules above; the high-entropy and keyword plugins are not regex-based (and flag every hash).
_EXCLUDED_PLUGINS = frozenset({"IPPublicDetector", "PrivateKeyDetector", "BasicAuthDetector"})
_KEYWORD = (r"(?P<key>[A-Za-z_]*(?:password|passwd|passwort|pwd|passphrase)[A-Za-z_0-9]*)")
_PASSWORD = re.compile(
    r"(?i)(?<![A-Za-z0-9])[\"']?" + _KEYWORD + r"[\"']?\s*(?:=(?![=~])|:(?![:=])|=>)\s*"
    r"(?:(?P<q>[\"'])(?P<quoted>[^\"'\n\\]{1,200})(?P=q)|(?P<bare>[^\s\"',;#(){}\[\]][^\s\"',;(){}\[\]]{0,199}))")
# Keys that name a setting about passwords, not a password (`min_password_length: 8`).
_NOT_A_PASSWORD_KEY = re.compile(
    r"(?i)(length|len|min|max|age|count|attempts|timeout|expir|reset|field|hash|policy|regex|"
    r"pattern|prompt|label|hint|placeholder|file|path|url|required|enabled|strength|history|"
    r"validator|input|type|changed|rounds|salt)")
_TEMPLATE = re.compile(r"^(\$\{?\w+\}?|%\(\w+\)s|\{\{.*\}\}|<[^>]*>|\{\w*\})$")
_URL_PASSWORD = re.compile(r"://[^:/?#\[\]@\s\"']{1,64}:([^:/?#\[\]@\s\"']{1,128})@[\w.-]+")
_STRIP = " \t\r\n\"'=:,;"
_KEY_RUN = re.compile(r"[A-Za-z0-9_+/=.-]{16,}")
# Key formats whose random part may lack a digit (the candidate-line test below).
_KEY_PREFIXES = ("AKIA", "ASIA", "ABIA", "ACCA", "A3T", "sk_live_", "rk_live_", "ghp_", "gho_",
                 "ghu_", "ghs_", "ghr_", "glpat-", "xox", "AIza", "SG.", "hf_", "sk-", "eyJ")
_PREFIX_IN_RUN = re.compile("|".join(re.escape(p) for p in _KEY_PREFIXES))
_DIGIT, _LETTER = re.compile("[0-9]"), re.compile("[A-Za-z]")  # a key run is ASCII
_TWO_COLONS = re.compile(r":[0-9A-Fa-f]{0,4}:")  # in every IPv6 candidate; a literal-led scan
_REFERENCE = re.compile(r"^[A-Za-z_][A-Za-z_0-9]*(\.[A-Za-z_][A-Za-z_0-9]*)+$")  # settings.X


@dataclasses.dataclass(frozen=True)
class Span:
  """A detected span of `text[start:end]` of one PII type; `replacement` goes in its place."""
  type: str
  start: int
  end: int
  replacement: str


@functools.lru_cache(maxsize=1)
def _secret_regexes() -> tuple[re.Pattern, ...]:
  """The denylist regexes of every detect-secrets regex plugin (but the excluded ones)."""
  import detect_secrets.plugins as plugins
  from detect_secrets.plugins.base import RegexBasedDetector
  out = []
  for info in sorted(pkgutil.iter_modules(plugins.__path__), key=lambda m: m.name):
    module = importlib.import_module(f"detect_secrets.plugins.{info.name}")
    for name, cls in sorted(inspect.getmembers(module, inspect.isclass)):
      if (cls.__module__ == module.__name__ and issubclass(cls, RegexBasedDetector)
          and cls is not RegexBasedDetector and name not in _EXCLUDED_PLUGINS):
        out.extend(cls().denylist)
  return tuple(out)


def _replacement_ip(address) -> str:
  choices = PRIVATE_REPLACEMENTS[address.version]
  digest = hashlib.sha256(str(address).encode()).digest()
  return choices[digest[0] % len(choices)]


def _public(address) -> bool:
  return not (address.is_private or address.is_loopback or address.is_link_local
              or address.is_multicast or address.is_reserved or address.is_unspecified
              or str(address) in WELL_KNOWN_DNS)


def _emails(text: str) -> Iterable[Span]:
  if "@" not in text:  # a scan for one character is ~100x faster than the regex's
    return
  for m in _EMAIL.finditer(text):
    local, domain, tld = m.group(1), m.group(2), m.group(3)
    if _RESERVED_DOMAINS.search(domain) or local.lower() == "git":
      continue
    if len(tld) != 2 and tld.lower() not in _GENERIC_TLDS:
      continue
    yield Span("email", m.start(), m.end(), PLACEHOLDERS["email"])


def _ipv4(text: str) -> Iterable[Span]:
  for m in _IPV4.finditer(text):
    try:
      address = ipaddress.IPv4Address(m.group())
    except ValueError:
      continue
    line_start = text.rfind("\n", 0, m.start()) + 1
    if _VERSION_CONTEXT.search(text[max(line_start, m.start() - 24):m.start()]):
      continue
    if _public(address):
      yield Span("ip_address", m.start(), m.end(), _replacement_ip(address))


def _ipv6(text: str) -> Iterable[Span]:
  if not _TWO_COLONS.search(text):
    return
  for m in _IPV6.finditer(text):
    candidate = m.group()
    groups = [g for g in candidate.split(":") if g]
    if not any(c.isdigit() for c in candidate):
      continue
    if not (len(groups) >= 3 or (len(groups) == 2 and max(len(g) for g in groups) >= 3)):
      continue
    try:
      address = ipaddress.IPv6Address(candidate)
    except ValueError:
      continue
    if _public(address):
      yield Span("ip_address", m.start(), m.end(), _replacement_ip(address))


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
  while start < end and text[start] in _STRIP:
    start += 1
  while end > start and text[end - 1] in _STRIP:
    end -= 1
  return start, end


def _candidate_lines(text: str) -> list[tuple[int, int]]:
  """(start, end) of the lines holding a run of 16+ key characters with a letter and a digit, or a known
  key prefix.

  Every key format searched for has such a run; running the ~40 plugin regexes on these lines
  only is ~10x faster than on the whole file and finds the same keys.
  """
  lines = []
  last_end = -1
  for m in _KEY_RUN.finditer(text):
    if m.start() < last_end:
      continue
    run = m.group()
    if not ((_DIGIT.search(run) and _LETTER.search(run)) or _PREFIX_IN_RUN.search(run)):
      continue
    start = text.rfind("\n", 0, m.start()) + 1
    end = text.find("\n", m.end())
    end = len(text) if end < 0 else end
    lines.append((start, end))
    last_end = end
  return lines


def _keys(text: str) -> Iterable[Span]:
  for m in _PEM_BLOCK.finditer(text):
    yield Span("key", m.start(2), m.end(2), PLACEHOLDERS["key"])
  for line_start, line_end in _candidate_lines(text):
    line = text[line_start:line_end]
    for regex in _secret_regexes() + _EXTRA_KEY_PATTERNS:
      for m in regex.finditer(line):
        # The secret is the whole match, or a long capture group (regexes that match
        # `aws_secret = "…"` capture the value; GitHub's captures only its `ghp` prefix).
        groups = [i for i in range(1, regex.groups + 1) if m.group(i) and len(m.group(i)) >= 16]
        group = groups[-1] if groups else 0
        start, end = _trimmed(line, m.start(group), m.end(group))
        if end - start >= 8:
          yield Span("key", line_start + start, line_start + end, PLACEHOLDERS["key"])


def _placeholder(value: str, key: str) -> bool:
  low = value.strip().lower()
  return (low in _PASSWORD_PLACEHOLDERS or bool(_REFERENCE.match(value.strip())) or low == key.lower() or bool(_TEMPLATE.match(low))
          or set(low) <= set("*x.-_#") or "os.environ" in low or "getenv" in low)


def _passwords(text: str, language: str) -> Iterable[Span]:
  config_file = language.lower() in _CONFIG_LANGUAGES
  # Most files name no password: test for the keywords' common stems first, in the case
  # folding that the (?i) pattern matches by (casefold also maps `ſ` to `s`).
  folded = text.casefold()
  keyword = "pass" in folded or "pwd" in folded
  for m in _PASSWORD.finditer(text) if keyword else ():
    group = "quoted" if m.group("quoted") is not None else "bare"
    value = m.group(group)
    if group == "bare":
      # A bare word in code is a variable or call; only config files hold bare values.
      line_end = text.find("\n", m.end())
      rest = text[m.end():len(text) if line_end < 0 else line_end].strip()
      if not config_file or rest[:1] not in ("", "#"):
        continue
    if _placeholder(value, m.group("key")) or _NOT_A_PASSWORD_KEY.search(m.group("key")):
      continue
    yield Span("password", m.start(group), m.end(group), PLACEHOLDERS["password"])
  for m in _URL_PASSWORD.finditer(text) if "://" in text and "@" in text else ():
    if not _placeholder(m.group(1), ""):
      yield Span("password", m.start(1), m.end(1), PLACEHOLDERS["password"])


_DETECTORS = {
    "email": lambda text, language: _emails(text),
    "ip_address": lambda text, language: list(_ipv4(text)) + list(_ipv6(text)),
    "key": lambda text, language: _keys(text),
    "password": _passwords,
    "name": lambda text, language: (Span("name", start, end, PLACEHOLDERS["name"])
                                    for start, end in pii_names.names(text)),
}
# When spans overlap, the more specific type wins (a key inside `password = "…"` is a key).
_PRIORITY = {"key": 0, "password": 1, "email": 2, "ip_address": 3, "name": 4}


def detect(text: str, language: str = "", types: Sequence[str] = tuple(_DETECTORS)) -> list[Span]:
  """The PII spans of `text`, sorted by start and non-overlapping.

  Args:
    text: a document.
    language: its language (folder name, e.g. "python", "yaml"): config files may hold bare
      password values, code only string literals.
    types: which of "email", "ip_address", "key", "password", "name" to look for.
  """
  found = []
  for kind in types:
    found.extend(_DETECTORS[kind](text, language))
  found.sort(key=lambda s: (_PRIORITY[s.type], -(s.end - s.start), s.start))
  chosen: list[Span] = []
  for span in found:
    if all(span.end <= c.start or span.start >= c.end for c in chosen):
      chosen.append(span)
  return sorted(chosen, key=lambda s: s.start)


def redact(text: str, spans: Sequence[Span]) -> str:
  """`text` with every span replaced by its replacement (spans sorted, non-overlapping)."""
  pieces, position = [], 0
  for span in spans:
    pieces.append(text[position:span.start])
    pieces.append(span.replacement)
    position = span.end
  pieces.append(text[position:])
  return "".join(pieces)


def redact_document(text: str, language: str = "", types: Sequence[str] = tuple(_DETECTORS)
                    ) -> tuple[str, list[Span]]:
  """(redacted text, spans in the original text's coordinates)."""
  spans = detect(text, language, types)
  return (redact(text, spans) if spans else text), spans


def counts_by_type(spans: Iterable[Span]) -> dict[str, int]:
  out: dict[str, int] = {}
  for span in spans:
    out[span.type] = out.get(span.type, 0) + 1
  return out

