from starjax.data import licenses
from starjax.data.source_trees import debian_copyright_license
from tests.data import samples


def permissive(expression):
  return licenses.parse_expression(expression).permissive


def test_or_is_permissive_if_any_branch_is():
  assert permissive("MIT OR Apache-2.0") is True
  assert permissive("GPL-2.0 OR BSD-3-Clause") is True
  assert permissive("BSD-2-clause or Ruby") is True  # Debian spelling


def test_and_needs_every_part_permissive():
  assert permissive("Apache-2.0 AND CNRI-Python") is True
  assert permissive("MPL-2.0 AND MIT") is False
  assert permissive("GPL-1+ or Artistic") is False


def test_unrecognised_names_make_the_result_unknown():
  assert permissive("MIT AND SomeCustomLicense") is None
  assert permissive("GPL-3.0 OR SomeCustomLicense") is None


def test_exceptions_keep_the_base_license():
  assert permissive("Apache-2.0 WITH LLVM-exception") is True
  assert permissive("GPL-2.0 WITH Linux-syscall-note") is False
  assert permissive("(GPL-2.0 WITH Linux-syscall-note) OR MIT") is True


def test_free_form_metadata_names_are_normalised():
  for name, spdx in (("Apache 2.0", "Apache-2.0"), ("Apache License, Version 2.0", "Apache-2.0"),
                     ("Modified BSD License", "BSD-3-Clause"), ("Expat", "MIT"),
                     ("ASL 2", "Apache-2.0"), ("PSF", "PSF-2.0")):
    assert licenses.license_from_field(name).expression == spdx
  assert licenses.license_from_field("UNKNOWN") is None


def test_a_stored_expression_parses_again_to_the_same_verdict():
  # What build-local writes into the corpus's `license` column is read back by data prepare's
  # license filter: long multi-license expressions and names it did not know included.
  for original in ("Apache-2.0 AND Apache-2.0 WITH LLVM-exception AND BSD-2-Clause AND "
                   "BSD-3-Clause AND BSL-1.0 AND MIT", "MIT OR AFL-2.1", "MIT AND Custom",
                   "GPL-3.0 OR Custom"):
    stored = licenses.parse_expression(original)
    again = licenses.license_from_field(stored.expression)
    assert (again.permissive if again else None) == stored.permissive, stored.expression
  assert licenses.license_from_field("MIT OR LicenseRef-unknown(AFL-2.1)").permissive is True


def test_license_texts_are_recognised_by_their_first_statement():
  assert licenses.license_from_text(samples.MIT) == licenses.License("MIT", True)
  assert licenses.license_from_text(samples.GPL).permissive is False
  bsd2 = "Redistribution and use in source and binary forms, with or without modification"
  assert licenses.license_from_text(bsd2).expression == "BSD-2-Clause"
  assert licenses.license_from_text(bsd2 + " Neither the name of").expression == "BSD-3-Clause"
  assert licenses.license_from_text("All rights reserved.") is None


def test_classifiers_listing_a_copyleft_license_exclude_the_package():
  found = licenses.license_from_classifiers([
      "License :: OSI Approved :: BSD License",
      "License :: OSI Approved :: GNU General Public License (GPL)"])
  assert found.permissive is False
  assert licenses.license_from_classifiers(
      ["License :: OSI Approved :: MIT License"]).permissive is True


def test_spdx_header_is_read_from_a_comment():
  assert licenses.license_from_spdx_header("/* SPDX-License-Identifier: MIT */\nint x;") == \
      licenses.License("MIT", True)
  assert licenses.license_from_spdx_header("# no header here") is None


def test_debian_copyright_uses_the_files_star_paragraph():
  text = ("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
          "Files: *\nCopyright: 2009 The Go Authors\nLicense: Go\n\n"
          "Files: debian/*\nLicense: GPL-3+\n")
  assert debian_copyright_license(text) == licenses.License("BSD-3-Clause", True)
  assert debian_copyright_license(
      "Format: x\n\nFiles: *\nLicense: GPL-1+ or Artistic\n").permissive is False
