#!/usr/bin/env python3
"""Code-structure figures for the workspace, to compare before and after a refactor.

Run from the repository root:  python3 tools/structure.py [--json]

All figures are approximate: a regex and brace scanner over Rust text in which comments,
strings (raw and byte strings too) and char literals are first blanked out. It is not a
parser: macros are not expanded, `cfg`s are not evaluated, names are not type-checked.

1. size       Every *.rs under crates/: files, lines (as `wc -l`), median, p90 (nearest rank)
              and max lines per file, files over 500 lines, a table per crate; and the same
              without test-only files (file name contains "test").
2. functions  Every `fn name` with a body, counted from the `fn` line to its closing brace
              (attributes and doc comments not counted). Test code is left out: files named
              *test*, files declared `#[cfg(test)] mod x;` (and their children), and any item
              marked `#[cfg(test)]`. Those over 80 lines are listed, as Type::fn inside an
              impl or trait block.
3. tests      `#[test]`, `#[tokio::test...]` per crate, and proptest properties (fns inside
              `proptest!` blocks; they carry #[test] too, so they are a share of it, not added).
              e2e scenarios in tests/e2e: test attributes outside `macro_rules!` bodies, plus
              invocations of macros whose body holds one (`on_both_databases!(name)` is one
              scenario, though it runs as two tests).
4. sleeps     `sleep(...)` in tests/e2e. A literal Duration of <= 100 ms is a poll step, a
              longer one a fixed wait, summed once per pass (a sleep in a loop counts once).
              A sleep on a variable is listed apart with the value of its
              `let`, and a helper fn's `unwrap_or(N)` default (an env var override) if there is one.
5. circles    Per crate, a graph of files. Edges: leaves of `use` trees and code paths that start
              with crate::, super:: or self::, resolved to the file of the longest known module
              prefix (an inline `mod x { }` belongs to its file, so `use super::*` in an inline
              `mod tests` points to its own file and is dropped); and parent -> declared child
              only when the parent names it (`child::f`, `use child::X`, `pub use child::X`).
              "module paths" keeps a path only if it names a module past crate/super/self
              (`crate::web::X`, `super::csrf`); "with items" also keeps `crate::Item` and
              `super::Item`, following a re-exported item to the file its `pub use` names.
              Strongly connected components of two or more files are reported.
6. routes     `.route(` calls in crates/idp.
"""

import bisect
import json
import math
import re
import statistics
import sys
from pathlib import Path

LONG_FILE, LONG_FN, POLL_SECS = 500, 80, 0.1
SKIP = re.compile(
    r"//[^\n]*|/\*"  # comments; block comments nest, so they are ended by hand
    r'|(?<!\w)b?r(#*)".*?"\1'  # raw strings
    r'|b?"(?:\\.|[^"\\])*"'  # strings and byte strings
    r"|b?'(?:\\(?:x\w\w|u\{\w+\}|.)|[^\\'\n])'",  # chars, not lifetimes
    re.S,
)
MOD_DECL = re.compile(r"((?:#\[[^\]]*\]\s*)*)(?:pub(?:\([^)]*\))?\s+)?\bmod\s+(\w+)\s*([;{])")
USE = re.compile(r"\b(pub(?:\([^)]*\))?\s+)?use\s+([^;]+);")
PATH = re.compile(r"(?<![\w$])(crate|super|self)((?:::\w+)*)(\s*::\s*\{)?")
FN = re.compile(r"\bfn\s+(\w+)")
OWNER = re.compile(
    r"^[ \t]*(?:unsafe\s+)?impl\b|^[ \t]*(?:pub(?:\([^)]*\))?\s+)?trait\s+(\w+)", re.M
)
CFG_TEST = re.compile(r"#\[cfg\(test\)\]")
TEST_ATTR = re.compile(r"#\[test\]|#\[tokio::test\b")
DURATION = re.compile(r"(?:std::time::|tokio::time::)?Duration::from_(\w+)\(\s*([\w.]+)\s*\)")
UNITS = {"secs": 1, "millis": 1e-3, "micros": 1e-6, "nanos": 1e-9, "secs_f64": 1, "secs_f32": 1}

# --- Reading Rust ---------------------------------------------------------------------------


def strip(text):
    """The text with comments, strings and chars blanked; offsets and line breaks are kept."""
    out, pos = [], 0
    while m := SKIP.search(text, pos):
        end = m.end()
        if m.group() == "/*":
            depth = 1
            while depth and end < len(text):
                step = text[end : end + 2]
                depth += (step == "/*") - (step == "*/")
                end += 2 if step in ("/*", "*/") else 1
        out += [text[pos : m.start()], re.sub(r"[^\n]", " ", text[m.start() : end])]
        pos = end
    return "".join(out + [text[pos:]])


class Source:
    """One .rs file: its text, the blanked code, and where each brace and paren closes."""

    def __init__(self, path):
        self.path, self.crate = path.as_posix(), path.parts[1]
        self.text = path.read_text(encoding="utf-8")
        self.code, self.lines = strip(self.text), len(self.text.splitlines())
        self.breaks = [m.start() for m in re.finditer("\n", self.text)]
        self.pairs, stacks = {}, {"{": [], "(": []}
        for m in re.finditer(r"[{}()]", self.code):
            stack = stacks["{" if m.group() in "{}" else "("]
            if m.group() in "{(":
                stack.append(m.start())
            elif stack:
                self.pairs[stack.pop()] = m.start()

    def line(self, pos):
        return bisect.bisect_left(self.breaks, pos) + 1

    def span(self, pos):
        """The braces of the item starting at pos, or None if a `;` (not in a `[u8; 2]` or
        parens) comes first."""
        depth = 0
        for m in re.compile(r"[{;()\[\]]").finditer(self.code, pos):
            c = m.group()
            depth += (c in "([") - (c in ")]")
            if depth < 0:  # pos was inside parens or brackets
                return None
            if depth == 0 and c in "{;":
                return (m.start(), self.pairs.get(m.start(), len(self.code))) if c == "{" else None

    def within(self, spans, pos):
        return any(a < pos < b for a, b in spans)


def read(folder):
    return [Source(p) for p in sorted(Path(folder).rglob("*.rs"))]


def by_crate(sources):
    crates = {}
    for s in sources:
        crates.setdefault(s.crate, []).append(s)
    return dict(sorted(crates.items()))


def p90(values):
    return sorted(values)[math.ceil(0.9 * len(values)) - 1]


# --- 1. Size --------------------------------------------------------------------------------


def size_figures(sources):
    lines = [s.lines for s in sources]
    return {"files": len(lines), "lines": sum(lines), "median": statistics.median(lines),
            "p90": p90(lines), "max": max(lines),
            "over_500": [[s.path, s.lines] for s in sources if s.lines > LONG_FILE]}


def size_section(sources):
    columns = ("files", "lines", "median", "max")
    table = {c: {k: v for k, v in size_figures(ss).items() if k in columns}
             for c, ss in by_crate(sources).items()}
    return {"all": size_figures(sources), "per_crate": table,
            "without_tests": size_figures([s for s in sources if "test" not in Path(s.path).name])}


# --- Modules (for 2 and 5) ------------------------------------------------------------------


def use_paths(tree):
    """`crate::{a::{B, C as D}, e}` -> ["crate::a::B", "crate::a::C@D", "crate::e"]."""
    tree = re.sub(r"\s+", "", re.sub(r"\s+as\s+", "@", tree))
    if "{" not in tree:
        return [tree]
    i, parts, depth, start = tree.index("{"), [], 0, 0
    inner = tree[i + 1 : tree.rindex("}")] + ","
    for j, c in enumerate(inner):
        depth += (c == "{") - (c == "}")
        if c == "," and depth == 0:
            parts, start = parts + [inner[start:j]], j + 1
    return [tree[:i] + p for part in parts if part for p in use_paths(part)]


def uses(source):
    """(position, path segments, name it is known by, is pub) for each leaf of each `use`."""
    for m in USE.finditer(source.code):
        for leaf in use_paths(m.group(2)):
            path, _, alias = leaf.partition("@")
            yield m.start(), path.split("::"), alias or path.split("::")[-1], bool(m.group(1))


def layout_path(path):
    """The module path of a file by layout: crates/x/src/a/b.rs -> ("a", "b")."""
    parts = Path(path).parts[2:]
    if parts[0] != "src" or parts[-1] == "main.rs" or parts[1] == "bin":
        return ("#" + "/".join(parts),)  # a crate root of its own: binary, bench
    return tuple(parts[1:-1]) + (() if parts[-1] in ("lib.rs", "mod.rs") else (parts[-1][:-3],))


class Crate:
    """One crate's files as modules: paths, declared children, inline modules, tests."""

    def __init__(self, sources):
        self.files = {s.path: s for s in sources}
        self.path = {f: layout_path(f) for f in self.files}
        self.children = {f: [] for f in self.files}
        self.inline = {f: [] for f in self.files}  # (open, close, name)
        pending = []  # files declared under #[cfg(test)]
        for f, s in self.files.items():
            for m in MOD_DECL.finditer(s.code):
                attrs, name = s.text[m.start(1) : m.end(1)], m.group(2)
                if m.group(3) == "{":
                    close = s.pairs.get(m.end() - 1, len(s.code))
                    self.inline[f].append((m.end() - 1, close, name))
                elif child := self.child_file(f, name, attrs):
                    self.children[f].append((name, child))
                    if "#[path" in attrs:
                        self.path[child] = self.path[f] + (name,)
                    if "cfg(test)" in attrs:
                        pending.append(child)
        self.modules = {}
        for f, segments in self.path.items():
            self.modules.setdefault(segments, f)
            for open_, _, _ in self.inline[f]:
                self.modules.setdefault(self.module_at(f, open_ + 1), f)
        self.exports = {}  # module -> {name: (file, position, path)}, from `pub use`
        for f, s in self.files.items():
            for pos, segments, name, public in uses(s):
                if public:
                    self.exports.setdefault(self.module_at(f, pos), {})[name] = (f, pos, segments)
        self.test_files = {f for f in self.files if "test" in Path(f).name}
        while pending:
            self.test_files.add(f := pending.pop())
            pending += [c for _, c in self.children[f] if c not in self.test_files]

    def child_file(self, parent, name, attrs):
        base = Path(parent).parent
        if m := re.search(r'#\[path\s*=\s*"([^"]+)"\]', attrs):
            candidates = [base / m.group(1)]
        else:
            if Path(parent).name not in ("lib.rs", "main.rs", "mod.rs"):
                base = base / Path(parent).stem
            candidates = [base / f"{name}.rs", base / name / "mod.rs"]
        return next((c.as_posix() for c in candidates if c.as_posix() in self.files), None)

    def module_at(self, f, pos):
        return self.path[f] + tuple(n for a, b, n in sorted(self.inline[f]) if a < pos < b)

    def resolve(self, f, pos, segments, items=False, hops=0):
        """The file of a path's longest known module prefix (see 5. in the docstring); None
        for other crates' paths, and without `items` for paths naming no module."""
        here, head, rest = self.module_at(f, pos), segments[0], segments[1:]
        if head == "crate":
            module = here[:1] if here and here[0].startswith("#") else ()
        elif head in ("self", "super"):
            module = here[:-1] if head == "super" else here
        elif here + (head,) in self.modules:  # a relative path to a child module
            module, rest = here, segments
        else:
            return None
        while rest and rest[0] == "super":
            module, rest = module[:-1], rest[1:]
        full = module + tuple(s for s in rest if s not in ("self", "*"))
        n = next(n for n in range(len(full), -1, -1) if full[:n] in self.modules or n == 0)
        if not items:
            return self.modules.get(full[:n]) if n > len(module) else None
        export = self.exports.get(full[:n], {}).get(full[n]) if n < len(full) else None
        if export and hops < 8:
            file, at, path = export
            return self.resolve(file, at, path + list(full[n + 1 :]), True, hops + 1)
        return self.modules.get(full[:n])


# --- 2. Functions ---------------------------------------------------------------------------


def owner_name(header, trait):
    header = re.sub(r"^\s*(?:unsafe\s+)?impl\s*(<(?:[^<>]|<[^<>]*>)*>)?", "", header)
    header = re.split(r"\bfor\s+", header)[-1]  # impl Trait for Type
    m = re.match(r"\s*&?\s*(?:'\w+\s+)?(?:mut\s+)?(?:dyn\s+)?([\w:]+)", header)
    return trait or (m.group(1).split("::")[-1] if m else "?")


def functions(source, crate):
    """(line, name, length) of each fn with a body outside test code."""
    if source.path in crate.test_files:
        return []
    tests = [(m.start(), sp[1]) for m in CFG_TEST.finditer(source.code)
             if (sp := source.span(m.end()))]
    owners = [(sp, owner_name(source.code[m.start() : sp[0]], m.group(1)))
              for m in OWNER.finditer(source.code) if (sp := source.span(m.end()))]
    found = []
    for m in FN.finditer(source.code):
        body = source.span(m.end())
        if body and not source.within(tests, m.start()):
            inside = [(a, o) for (a, b), o in owners if a < m.start() < b]
            name = f"{max(inside)[1]}::{m.group(1)}" if inside else m.group(1)
            start = source.line(m.start())
            found.append((start, name, source.line(body[1]) - start + 1))
    return found


def function_section(sources, crates):
    found = [(s.path, *f) for s in sources for f in functions(s, crates[s.crate])]
    lengths = [f[3] for f in found]
    long = sorted((f for f in found if f[3] > LONG_FN), key=lambda f: -f[3])
    return {"functions": len(found), "median": statistics.median(lengths), "p90": p90(lengths),
            "over_80": [{"at": f"{p}:{line}", "name": n, "lines": ln} for p, line, n, ln in long]}


# --- 3. Tests -------------------------------------------------------------------------------


def crate_tests(sources):
    table = {}
    for s in sources:
        row = table.setdefault(s.crate, {"test": 0, "tokio_test": 0, "properties": 0})
        row["test"] += len(re.findall(r"#\[test\]", s.code))
        row["tokio_test"] += len(re.findall(r"#\[tokio::test\b", s.code))
        blocks = [s.span(m.start()) for m in re.finditer(r"\bproptest!\s*\{", s.code)]
        row["properties"] += sum(len(FN.findall(s.code, a, b)) for a, b in blocks)
    total = {k: sum(r[k] for r in table.values()) for k in ("test", "tokio_test", "properties")}
    return {"per_crate": table, "total": total, "all": total["test"] + total["tokio_test"]}


def e2e_scenarios(sources):
    spans, macros, per_file = {}, set(), {}
    for s in sources:
        for m in re.finditer(r"\bmacro_rules!\s*(\w+)\s*\{", s.code):
            a, b = s.span(m.start())
            spans.setdefault(s.path, []).append((a, b))
            macros |= {m.group(1)} if TEST_ATTR.search(s.code, a, b) else set()
    for s in sources:
        outside = spans.get(s.path, [])
        attrs = [m for m in TEST_ATTR.finditer(s.code) if not s.within(outside, m.start())]
        calls = sum(len(re.findall(rf"(?<![\w$]){name}!\s*[(\[{{]", s.code)) for name in macros)
        per_file.update({s.path: [len(attrs), calls]} if attrs or calls else {})
    attrs, calls = (sum(v[i] for v in per_file.values()) for i in (0, 1))
    return {"scenarios": attrs + calls, "test_attributes": attrs, "macro_scenarios": calls,
            "test_macros": sorted(macros), "per_file": per_file}


# --- 4. Sleeps ------------------------------------------------------------------------------


def variable_value(source, name, pos):
    """The last `let name = ...;` before pos; for `helper()`, its `unwrap_or(N)` default."""
    lets = list(re.finditer(rf"\blet\s+(?:mut\s+)?{name}\b[^=;]*=\s*([^;]+);", source.code[:pos]))
    if not lets:
        return None
    value = {"expr": " ".join(source.text[lets[-1].start(1) : lets[-1].end(1)].split())}
    call = re.fullmatch(r"(\w+)\(\)", value["expr"])
    helper = call and re.search(rf"\bfn\s+{call.group(1)}\s*\(", source.code)
    if helper and (body := source.span(helper.start())):
        text = source.text[body[0] : body[1]]
        default, unit = re.search(r"unwrap_or\((\d+)\)", text), DURATION.search(text)
        env = re.search(r'var\(\s*"(\w+)"', text)
        if default and unit:
            value["seconds"] = float(default.group(1)) * UNITS.get(unit.group(1), 1)
            value["env"] = env and env.group(1)
    return value


def sleeps(source):
    for m in re.finditer(r"\bsleep\s*\(", source.code):
        open_ = m.end() - 1
        arg = " ".join(source.text[open_ + 1 : source.pairs.get(open_, open_)].split())
        item = {"at": f"{source.path}:{source.line(m.start())}", "arg": arg}
        lit = DURATION.fullmatch(arg)
        if lit and re.fullmatch(r"[\d_.]+", lit.group(2)):
            item["seconds"] = float(lit.group(2).replace("_", "")) * UNITS.get(lit.group(1), 1)
        else:
            item["variable"] = lit.group(2) if lit else arg
            item["value"] = variable_value(source, item["variable"], m.start())
        yield item


def sleep_section(sources):
    found = [i for s in sources for i in sleeps(s)]
    fixed = [i for i in found if i.get("seconds", 0) > POLL_SECS]
    variable = [i for i in found if "variable" in i]
    per_file = {}
    for i in fixed:
        f = i["at"].rsplit(":", 1)[0]
        per_file[f] = round(per_file.get(f, 0) + i["seconds"], 3)
    total = round(sum(i["seconds"] for i in fixed), 3)
    defaults = sum((i["value"] or {}).get("seconds", 0) for i in variable)
    return {"calls": len(found), "poll_steps": len(found) - len(fixed) - len(variable),
            "fixed_waits": len(fixed), "fixed_seconds": total,
            "fixed_plus_variable_defaults": round(total + defaults, 3),
            "fixed_seconds_per_file": dict(sorted(per_file.items(), key=lambda kv: -kv[1])),
            "fixed": fixed, "variable": variable}


# --- 5. Import circles ----------------------------------------------------------------------


def edges(crate, source, items):
    found, f = set(), source.path
    for pos, segments, _, _ in uses(source):
        if segments[0] in ("crate", "super", "self"):
            found.add(crate.resolve(f, pos, segments, items))
    for m in PATH.finditer(source.code):
        if m.group(2) and not m.group(3):  # `crate::a::{` is read as a use tree above
            found.add(crate.resolve(f, m.start(), [m.group(1)] + m.group(2).split("::")[1:], items))
    for name, child in crate.children[f]:
        if re.search(rf"(?<![\w:$]){name}\s*::", source.code):
            found.add(child)
    return found - {None, f}


def strongly_connected(graph):
    """Tarjan's algorithm: the components, each a sorted list of nodes."""
    index, low, stack, out = {}, {}, [], []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = stack[stack.index(v) :]
            del stack[stack.index(v) :]
            out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def circle_section(crates, items):
    result = {}
    for name, crate in crates.items():
        graph = {f: edges(crate, s, items) for f, s in crate.files.items()}
        circles = [c for c in strongly_connected(graph) if len(c) > 1]
        result[name] = sorted(circles, key=lambda c: (-len(c), c))
    return result


# --- Report ---------------------------------------------------------------------------------


def measure():
    sources, e2e = read("crates"), read("tests/e2e")
    crates = {c: Crate(ss) for c, ss in by_crate(sources).items()}
    return {"size": size_section(sources), "functions": function_section(sources, crates),
            "tests": {"crates": crate_tests(sources), "e2e": e2e_scenarios(e2e)},
            "sleeps": sleep_section(e2e),
            "circles": circle_section(crates, items=False),
            "circles_with_items": circle_section(crates, items=True),
            "routes_idp": sum(len(re.findall(r"\.route\s*\(", s.code))
                              for s in by_crate(sources).get("idp", []))}


def print_size(size):
    print("1. Crate code size (crates/**/*.rs)")
    for label, f in (("all", size["all"]), ("without *test* files", size["without_tests"])):
        print(f"  {label}: {f['files']} files, {f['lines']:,} lines; per file median "
              f"{f['median']:g}, p90 {f['p90']}, max {f['max']}; "
              f"{len(f['over_500'])} over {LONG_FILE} lines")
    for path, lines in sorted(size["all"]["over_500"], key=lambda x: -x[1]):
        print(f"     {lines:5} {path}")
    print(f"  {'crate':8} {'files':>5} {'lines':>7} {'median':>6} {'max':>5}")
    for c, t in size["per_crate"].items():
        print(f"  {c:8} {t['files']:5} {t['lines']:7,} {t['median']:6g} {t['max']:5}")


def print_functions_and_tests(fns, tests, e2e):
    print(f"\n2. Functions outside tests: {fns['functions']}, median {fns['median']:g} lines, "
          f"p90 {fns['p90']}; {len(fns['over_80'])} over {LONG_FN} lines")
    for f in fns["over_80"]:
        print(f"  {f['lines']:5} {f['at']} {f['name']}")
    total = tests["total"]
    print(f"\n3. Crate tests: {tests['all']} ({total['test']} #[test], {total['tokio_test']} "
          f"#[tokio::test]); {total['properties']} of the #[test] are proptest properties")
    for c, t in tests["per_crate"].items():
        print(f"  {c:8} {t['test']:4} #[test] {t['tokio_test']:4} #[tokio::test] "
              f"{t['properties']:4} properties")
    print(f"  e2e scenarios: {e2e['scenarios']} ({e2e['test_attributes']} test attributes, "
          f"{e2e['macro_scenarios']} {'/'.join(e2e['test_macros'])}! invocations)")


def print_sleeps(sl):
    print(f"\n4. sleep( in tests/e2e: {sl['calls']} calls; {sl['poll_steps']} poll steps "
          f"<= 100 ms, {sl['fixed_waits']} fixed waits = {sl['fixed_seconds']:g} s per pass, "
          f"{sl['fixed_plus_variable_defaults']:g} s with the variables' defaults")
    for f, secs in sl["fixed_seconds_per_file"].items():
        print(f"  {secs:7g} s {f}")
    for i in sl["variable"]:
        v = i["value"] or {}
        known = f" = {v['expr']}" if v else ": no `let` found"
        known += f", default {v['seconds']:g} s" if "seconds" in v else ""
        known += f" (env {v['env']})" if v.get("env") else ""
        print(f"  variable: {i['at']} sleep({i['arg']}): {i['variable']}{known}")


def print_circles(title, circles_per_crate):
    print(f"\n5. Import circles, {title}: strongly connected files per crate")
    for c, circles in circles_per_crate.items():
        print(f"  {c:8} " + (", ".join(str(len(x)) for x in circles) or "none"))
        for x in circles:
            print(f"    {len(x)}: " + " ".join(p.split("/src/", 1)[-1] for p in x))


def report(r):
    print_size(r["size"])
    print_functions_and_tests(r["functions"], r["tests"]["crates"], r["tests"]["e2e"])
    print_sleeps(r["sleeps"])
    print_circles("module paths", r["circles"])
    print_circles("with items", r["circles_with_items"])
    print(f"\n6. .route( calls in crates/idp: {r['routes_idp']}")


if __name__ == "__main__":
    if "--json" in sys.argv[1:]:
        print(json.dumps(measure(), indent=1))
    else:
        report(measure())
