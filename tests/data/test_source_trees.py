import os

from starjax.data import source_trees
from tests.data import samples


def make_dist(site, name, metadata_lines, files):
  info = site / f"{name}-1.0.dist-info"
  info.mkdir(parents=True)
  (info / "METADATA").write_text(
      "Metadata-Version: 2.1\n" + f"Name: {name}\nVersion: 1.0\n" + "".join(
          line + "\n" for line in metadata_lines))
  records = []
  for path, text in files.items():
    (site / path).parent.mkdir(parents=True, exist_ok=True)
    (site / path).write_text(text)
    records.append(f"{path},,")
  (info / "RECORD").write_text("\n".join(records + [f"{info.name}/METADATA,,"]) + "\n")


def test_site_packages_files_belong_to_their_distribution(tmp_path):
  site = tmp_path / "site-packages"
  make_dist(site, "goodpkg", ["License-Expression: MIT"], {"goodpkg/a.py": samples.python(1)})
  make_dist(site, "copyleft", ["Classifier: License :: OSI Approved :: GNU General Public "
                               "License v3 (GPLv3)"], {"copyleft/b.py": samples.python(2)})
  (site / "stray.py").write_text(samples.python(3))
  files = {f.repo_path: f for f in source_trees.PythonSitePackagesTree(str(site)).files()}
  assert files["goodpkg/a.py"].package == "goodpkg"
  assert files["goodpkg/a.py"].license.permissive is True
  assert files["copyleft/b.py"].license.permissive is False
  assert files["stray.py"].license is None  # owned by no distribution: unknown


def test_generic_roots_use_the_nearest_license_file(tmp_path):
  samples.write_source_tree(tmp_path)
  tree = source_trees.SourceTree(str(tmp_path))
  files = {os.path.relpath(f.path, tmp_path): f for f in tree.files()}
  assert files[os.path.join("mitpkg", "go", "file1.go")].package == "mitpkg"
  assert files[os.path.join("mitpkg", "go", "file1.go")].repo_path == os.path.join("go",
                                                                                   "file1.go")
  assert files[os.path.join("gplpkg", "lib.py")].license.permissive is False
  assert files[os.path.join("nolicense", "tool.py")].license is None
  assert "LICENSE" not in {os.path.basename(p) for p in files}  # not source code


def test_the_running_interpreter_is_a_system_tree():
  trees = source_trees.system_trees()
  assert isinstance(trees[0], source_trees.PythonStdlibTree)
  assert trees[0]._license().expression == "PSF-2.0"  # from the stdlib's LICENSE.txt
