"""The import graph of all of ``app`` (the core, the window, the CLI, the server, the self-test): no module imports
itself back through others. import-linter's contracts hold the core's layers and its packages' siblings; this holds
every module of every face, imports inside functions included (a lazy import back is still a circle)."""

from __future__ import annotations

import grimp

# Circles known and being removed: each names who removes it. The test fails for any other circle, so none is added.
KNOWN: set[frozenset[str]] = set()  # none left: a circle found later is fixed, not listed


def circles(graph: grimp.ImportGraph) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def visit(root: str) -> None:
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, targets = work[-1]
            for target in targets:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph.find_modules_directly_imported_by(target)))))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(frozenset(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_circles_are_found() -> None:
    graph = grimp.ImportGraph()
    for module in ("a", "a.x", "a.y", "a.z", "a.w"):
        graph.add_module(module)
    for importer, imported in (("a.x", "a.y"), ("a.y", "a.z"), ("a.z", "a.x"), ("a.w", "a.x")):
        graph.add_import(importer=importer, imported=imported)
    assert circles(graph) == [frozenset({"a.x", "a.y", "a.z"})]


def test_no_module_imports_itself_back() -> None:
    graph = grimp.build_graph("app", cache_dir=None, exclude_type_checking_imports=True)
    assert len(graph.modules) > 200  # the whole app was read
    new = [sorted(circle) for circle in circles(graph) if circle not in KNOWN]
    assert new == [], f"modules that import each other back (move what both need into a module below them): {new}"


def test_the_tests_never_import_the_benchmarks() -> None:
    """A benchmark may change its figures' set-up at will: what tests and benchmarks share lives under tests/
    (``tests/chat_harness.py``, ``tests/knowledge_corpus.py``) and the benchmarks import it from there."""
    import ast
    from pathlib import Path

    tests = Path(__file__).resolve().parents[1]
    found = []
    for path in sorted(tests.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            found += [f"{path.relative_to(tests)}: {name}" for name in names if name.split(".")[0] == "bench"]
    assert found == []
