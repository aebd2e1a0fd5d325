"""Small, realistic code samples for the data tests: a source tree for build-local and rows in
The Stack's schema. Deterministic; every file is distinct and passes the quality filters unless
it is meant to fail one."""

import json
import os

MIT = """MIT License

Copyright (c) 2024 Example Authors

Permission is hereby granted, free of charge, to any person obtaining a copy of this software
and associated documentation files (the "Software"), to deal in the Software without
restriction, including without limitation the rights to use, copy, modify, merge, publish,
distribute, sublicense, and/or sell copies of the Software.
"""

GPL = """                    GNU GENERAL PUBLIC LICENSE
                       Version 3, 29 June 2007

 Copyright (C) 2007 Free Software Foundation, Inc. <https://fsf.org/>
 Everyone is permitted to copy and distribute verbatim copies of this license document.
"""


def python(i):
  return "".join(f'''
def scale_{i}_{k}(values, factor={i + k}):
    """Multiplies every value by factor and drops negatives."""
    result = []
    for value in values:
        if value * factor >= 0:
            result.append(value * factor)
    return result


class Counter{i}x{k}:
    def __init__(self):
        self.count = {k}

    def bump(self, step=1):
        self.count += step
        return self.count
''' for k in range(6))


def c(i):
  return "#include <stdio.h>\n" + "".join(f"""
static int sum_{i}_{k}(const int *xs, int n) {{
  int total = {k};
  for (int j = 0; j < n; ++j) {{
    total += xs[j] * {i + 1};
  }}
  return total;
}}
""" for k in range(6))


def cpp(i):
  return "#include <vector>\n#include <string>\n" + "".join(f"""
template <typename T>
T accumulate_{i}_{k}(const std::vector<T>& values) {{
  T total{{}};
  for (const auto& v : values) total += v * {k + 1};
  return total;
}}
""" for k in range(6))


def javascript(i):
  return "".join(f"""
export function mapKeys{i}_{k}(object, fn) {{
  const out = {{}};
  for (const [key, value] of Object.entries(object)) {{
    out[fn(key, {k})] = value;
  }}
  return out;
}}
""" for k in range(6))


def typescript(i):
  return "".join(f"""
export interface Point{i}x{k} {{
  x: number;
  y: number;
}}

export function distance{i}_{k}(a: Point{i}x{k}, b: Point{i}x{k}): number {{
  return Math.hypot(a.x - b.x, a.y - b.y) * {k + 1};
}}
""" for k in range(6))


def go(i):
  return f"package sample{i}\n" + "".join(f"""
// Reverse{k} returns the runes of s in reverse order.
func Reverse{i}x{k}(s string) string {{
	r := []rune(s)
	for a, b := 0, len(r)-1; a < b; a, b = a+1, b-1 {{
		r[a], r[b] = r[b], r[a]
	}}
	return string(r) + "{k}"
}}
""" for k in range(6))


def rust(i):
  return "".join(f"""
pub fn clamp_{i}_{k}(value: i64, low: i64, high: i64) -> i64 {{
    if value < low {{
        low
    }} else if value > high {{
        high + {k}
    }} else {{
        value
    }}
}}
""" for k in range(6))


def java(i):
  return f"public class Sample{i} {{\n" + "".join(f"""
  public static int fib{k}(int n) {{
    int a = 0, b = {k + 1};
    for (int j = 0; j < n; j++) {{
      int t = a + b;
      a = b;
      b = t;
    }}
    return a;
  }}
""" for k in range(6)) + "}\n"


def ruby(i):
  return "".join(f"""
class Stack{i}x{k}
  def initialize
    @items = []
  end

  def push(item)
    @items.push(item * {k + 1})
    self
  end
end
""" for k in range(6))


def shell(i):
  return "#!/usr/bin/env bash\nset -euo pipefail\n" + "".join(f"""
backup_{i}_{k}() {{
  local source="$1"
  local target="$2/backup-{k}"
  mkdir -p "$target"
  cp -r "$source" "$target"
}}
""" for k in range(6))


def lua(i):
  return "".join(f"""
local function map_{i}_{k}(items, fn)
  local out = {{}}
  for index, value in ipairs(items) do
    out[index] = fn(value) + {k}
  end
  return out
end
""" for k in range(6))


def markdown(i):
  return f"# Package {i}\n\n" + "".join(f"""
## Section {k}

Install the package and call `scale_{i}_{k}` with a list of numbers. It returns the
numbers multiplied by the factor, without the negative ones.
""" for k in range(4))


def yaml(i):
  return "".join(f"service_{k}:\n  name: worker-{i}-{k}\n  replicas: {k + 1}\n"
                 for k in range(4))


def json_text(i):
  return json.dumps({"name": f"package-{i}", "version": f"1.{i}.0",
                     "keywords": ["code", "sample", str(i)]}, indent=2) + "\n"


LANGUAGES = {
    "python": (".py", python), "c": (".c", c), "cpp": (".cpp", cpp),
    "javascript": (".js", javascript), "typescript": (".ts", typescript), "go": (".go", go),
    "rust": (".rs", rust), "java": (".java", java), "ruby": (".rb", ruby),
    "shell": (".sh", shell), "lua": (".lua", lua), "markdown": (".md", markdown),
    "yaml": (".yaml", yaml), "json": (".json", json_text),
}
FILES_PER_LANGUAGE = 4


def _write(path, data):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "wb") as f:
    f.write(data if isinstance(data, bytes) else data.encode("utf-8"))


def write_source_tree(root):
  """mitpkg (kept) with files in 14 languages plus one file per filter; gplpkg (copyleft),
  nolicense (unknown) and nodepkg (Apache-2.0 from package.json)."""
  root = str(root)
  _write(os.path.join(root, "mitpkg", "LICENSE"), MIT)
  for language, (ext, make) in LANGUAGES.items():
    for i in range(FILES_PER_LANGUAGE):
      _write(os.path.join(root, "mitpkg", language, f"file{i}{ext}"), make(i))
  src = os.path.join(root, "mitpkg", "rejected")
  _write(os.path.join(src, "blob.py"), b"\x00\x01binary" * 50)
  _write(os.path.join(src, "latin1.py"), "x = 'caf\xe9'\n".encode("latin-1"))
  _write(os.path.join(src, "min.js"), "var a=1;" * 300 + "\n")
  _write(os.path.join(src, "ops_pb2.py"),
         "# Generated by the protocol buffer compiler.  DO NOT EDIT!\n" + python(90))
  _write(os.path.join(src, "copy.py"), python(0))  # duplicate of mitpkg/python/file0.py
  _write(os.path.join(src, "big.py"), python(91) * 12)  # over max_file_bytes=20000
  _write(os.path.join(src, "empty.py"), "\n\n")
  _write(os.path.join(src, "spdx_gpl.c"), "// SPDX-License-Identifier: GPL-2.0-only\n" + c(92))
  _write(os.path.join(root, "gplpkg", "COPYING"), GPL)
  _write(os.path.join(root, "gplpkg", "lib.py"), python(93))
  _write(os.path.join(root, "gplpkg", "spdx_mit.py"),
         "# SPDX-License-Identifier: MIT\n" + python(94))
  _write(os.path.join(root, "nolicense", "tool.py"), python(95))
  _write(os.path.join(root, "nodepkg", "package.json"),
         json.dumps({"name": "nodepkg", "license": "Apache-2.0"}))
  _write(os.path.join(root, "nodepkg", "index.js"), javascript(96))
  _write(os.path.join(root, "mitpkg", "style", "only.css"),  # a language with a single file
         "".join(f".card-{k} {{\n  margin: {k}px;\n  color: #333;\n}}\n" for k in range(9)))


def stack_rows():
  """Rows in The Stack's schema (+ `lang`): 40 python, 12 javascript, 12 c-sharp."""
  rows = []
  for i in range(40):
    rows.append({"content": python(100 + i), "max_stars_repo_name": f"org{i % 7}/repo{i}",
                 "max_stars_repo_path": f"src/mod{i}.py", "max_stars_count": i * 37,
                 "lang": "python"})
  for i in range(12):
    rows.append({"content": javascript(200 + i), "max_stars_repo_name": f"web/app{i}",
                 "max_stars_repo_path": f"lib/m{i}.js", "max_stars_count": None,
                 "lang": "javascript"})
  for i in range(12):
    body = "".join(f"  public int Add{k}(int a, int b) {{ return a + b + {k}; }}\n"
                   for k in range(8))
    rows.append({"content": f"public class C{i} {{\n{body}}}\n",
                 "max_stars_repo_name": f"dotnet/lib{i}", "max_stars_repo_path": f"C{i}.cs",
                 "max_stars_count": 5, "lang": "c-sharp"})
  return rows
