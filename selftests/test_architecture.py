"""The package keeps the shape the README's Architecture section describes:
no import cycle among zdtm's modules (imports inside functions count too),
no function longer than 80 lines, no class longer than 300, and each axis a
registry of modules behind one interface."""
import ast
from pathlib import Path

from conftest import PROJECT

PACKAGE = PROJECT / "zdtm"
MAX_FUNCTION, MAX_CLASS = 80, 300


def _modules() -> dict:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PROJECT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = (path, ast.parse(path.read_text()))
    return out


def _imports(name: str, path: Path, tree: ast.AST, known: set) -> set:
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.ImportFrom) and node.level:
            base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else []))
            targets = [f"{base}.{a.name}" for a in node.names] + [base]
        elif isinstance(node, ast.ImportFrom) and node.module:
            targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        for t in targets:
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


def _cycle(graph: dict) -> list:
    state, stack = {}, []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for dep in sorted(graph[m]):
            if state.get(dep) == "open":
                return stack[stack.index(dep):] + [dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        state[m] = "done"
        return []

    for m in sorted(graph):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return []


def test_no_import_cycle_counting_imports_inside_functions():
    mods = _modules()
    graph = {name: _imports(name, path, tree, set(mods)) for name, (path, tree) in mods.items()}
    assert _cycle(graph) == []


def test_the_cycle_checker_sees_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_no_long_function_or_class():
    long = []
    for name, (path, tree) in _modules().items():
        for node in ast.walk(tree):
            limit = MAX_CLASS if isinstance(node, ast.ClassDef) else \
                MAX_FUNCTION if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else None
            if limit and node.end_lineno - node.lineno + 1 > limit:
                long.append(f"{path.relative_to(PROJECT)}:{node.lineno} {node.name} "
                            f"{node.end_lineno - node.lineno + 1} lines")
    assert long == []


def test_each_axis_is_a_registry_of_modules_behind_one_interface():
    from zdtm.criu import DRIVERS, CriuDriver
    from zdtm.flavors import FLAVOR_CLASSES, Flavor
    from zdtm.guards import GUARDS, Guard
    from zdtm.kinds import KINDS, WorkloadKind
    from zdtm.modes import MODES, Mode
    for registry, base in ((DRIVERS.values(), CriuDriver), (FLAVOR_CLASSES.values(), Flavor),
                           (GUARDS, Guard), (MODES, Mode)):
        for cls in registry:
            assert issubclass(cls, base) and cls is not base, cls
            assert cls.__module__ != base.__module__, f"{cls.__name__} shares a module with its interface"
    for kind in KINDS:
        assert isinstance(kind, WorkloadKind) and type(kind).__module__ != WorkloadKind.__module__
    # one module each (a flavor or driver module may hold variants: ns/uns)
    for registry in (GUARDS, MODES, [type(k) for k in KINDS]):
        modules = [cls.__module__ for cls in registry]
        assert len(modules) == len(set(modules)), modules
