"""The project's own import graph, read from the source (AST) rather than by importing: every `import` and
`from ... import` at any depth (function-level ones too) that names one of the project's modules.

Used by the cache fingerprints (pipeline/version.py: a component's code is the import closure of its entry
modules) and by tests/test_imports.py (no cycles)."""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, Iterable, List, Set

PACKAGES = ("pipeline", "components", "trainer", "serving")


def modules(root: Path, packages: Iterable[str] = PACKAGES) -> Dict[str, Path]:
    """{dotted module name: source file} of every .py file under the packages ('a.b' for a/b/__init__.py)."""
    found = {}
    for package in packages:
        for path in sorted((Path(root) / package).rglob("*.py")):
            name = ".".join(path.relative_to(root).with_suffix("").parts)
            found[name[: -len(".__init__")] if name.endswith(".__init__") else name] = path
    return found


def _resolve(name: str, known: Dict[str, Path]) -> str:
    """The longest known module that `name` (a module or a name inside one) lies in; '' when none."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name


def imports_of(module: str, path: Path, known: Dict[str, Path]) -> Set[str]:
    """The project modules that one module imports (a package's own __init__ left out: importing a.b.c runs
    a/__init__.py, which is not a dependency worth an edge of its own)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            names = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for name in names:
            target = _resolve(name, known)
            if target and target != module and not (module.startswith(target + ".")
                                                    and known[target].name == "__init__.py"):
                found.add(target)
    return found


def graph(root: Path, packages: Iterable[str] = PACKAGES) -> Dict[str, Set[str]]:
    """{module: the project modules it imports}."""
    known = modules(root, packages)
    return {name: imports_of(name, path, known) for name, path in known.items()}


def closure(edges: Dict[str, Set[str]], entries: Iterable[str]) -> Set[str]:
    """The entry modules and everything they import, directly or not, plus the packages (__init__) above each:
    Python runs those too."""
    seen: Set[str] = set()
    todo = list(entries)
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        if module not in edges:
            raise KeyError(f"no module {module!r} in the project's import graph")
        seen.add(module)
        todo += edges[module]
        parts = module.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts)) if ".".join(parts[:i]) in edges]
    return seen


def cycles(edges: Dict[str, Set[str]]) -> List[List[str]]:
    """Every import cycle a depth-first walk meets, each as [a, b, ..., a]."""
    found: List[List[str]] = []
    state: Dict[str, int] = {}
    stack: List[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        stack.append(module)
        for target in sorted(edges[module]):
            if state.get(target) == 1:
                found.append(stack[stack.index(target):] + [target])
            elif not state.get(target):
                visit(target)
        stack.pop()
        state[module] = 2

    for module in sorted(edges):
        if not state.get(module):
            visit(module)
    return found
