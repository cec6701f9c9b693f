"""The folders are the layers (CONTRIBUTING.md): a module imports only its own layer or lower ones.

Read with ``ast``, so imports inside functions count too (a function-level import is still a
dependency, only a hidden one); imports under ``if TYPE_CHECKING:`` are type hints and do not.
No circles between folders, and none at import time anywhere; inside one folder, objects that
navigate to each other (``Workspace`` ↔ ``Experiment`` ↔ ``Run``, as in v1) may import each other
inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "aml_jupyter"

#: Bottom up. The root modules (errors, paths, status) are the vocabulary every layer shares;
#: the package itself (``aml_jupyter/__init__.py``: lazy re-exports) and the v1 shim sit on top.
LAYERS = [
    ("errors", "paths", "status", "version", "_v1_imports"),
    ("store",),
    ("snapshot",),
    ("environments",),
    ("tracking",),
    ("compute",),
    ("registry",),
    ("data",),
    ("workflows",),
    ("frontends",),
    ("", "__main__", "_azureml_shim", "azureml"),
]


def module_name(path: Path, root: Path = PACKAGE) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> int:
    top = module.split(".", 1)[0]
    for rank, names in enumerate(LAYERS):
        if top in names:
            return rank
    raise AssertionError(f"aml_jupyter.{module} is in no layer: add its folder to LAYERS")


def _type_checking_block(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imports_of(path: Path, root: Path = PACKAGE, deferred: bool = True) -> set[str]:
    """Every aml_jupyter module ``path`` imports (relative to the package), hints excluded;
    with ``deferred=False`` only what importing it runs (not imports inside functions)."""
    module = module_name(path, root)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if _type_checking_block(child):
                continue
            if not deferred and isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            if isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".") if package else []
                    base = base[: len(base) - (child.level - 1)]
                    target = ".".join([*base, child.module] if child.module else base)
                elif (child.module or "").startswith("aml_jupyter"):
                    target = child.module.removeprefix("aml_jupyter").lstrip(".")  # type: ignore[union-attr]
                else:
                    continue
                for alias in child.names:
                    sub = f"{target}.{alias.name}" if target else alias.name
                    found.add(sub if _is_module(sub, root) else target)
            elif isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name.startswith("aml_jupyter."):
                        found.add(alias.name.removeprefix("aml_jupyter."))
            visit(child)

    visit(ast.parse(path.read_text(), str(path)))
    found.discard(module)
    return found


def _is_module(name: str, root: Path) -> bool:
    where = root.joinpath(*name.split("."))
    return where.with_suffix(".py").is_file() or (where / "__init__.py").is_file()


def all_modules(deferred: bool = True) -> dict[str, set[str]]:
    return {
        module_name(p): imports_of(p, deferred=deferred)
        for p in sorted(PACKAGE.rglob("*.py"))
        if "labextension" not in p.parts
    }


def test_no_module_imports_a_higher_layer() -> None:
    upward = [
        f"aml_jupyter.{m} imports aml_jupyter.{dep}"
        for m, deps in all_modules().items()
        for dep in sorted(deps)
        if layer_of(dep) > layer_of(m)
    ]
    assert upward == [], "\n".join(upward)


def folder_of(module: str) -> str:
    """The folder (package) a module sits in: ``compute.local`` for ``compute.local.target``;
    the root's shared modules (errors, status, ...) each stand for themselves."""
    if module in LAYERS[0] or (PACKAGE.joinpath(*module.split(".")) / "__init__.py").is_file():
        return module
    return module.rpartition(".")[0]


def test_no_import_circles_between_folders() -> None:
    folders: dict[str, set[str]] = {}
    for module, deps in all_modules().items():
        edges = folders.setdefault(folder_of(module), set())
        edges.update(folder_of(d) for d in deps if folder_of(d) != folder_of(module))
    circles = _cycles(folders)
    assert circles == [], "\n".join(" <-> ".join(c) for c in circles)


def test_no_import_circles_at_import_time() -> None:
    circles = _cycles(all_modules(deferred=False))
    assert circles == [], "\n".join(" <-> ".join(c) for c in circles)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return sorted(out)


def test_only_the_store_speaks_sql() -> None:
    users = [
        m
        for m, path in ((module_name(p), p) for p in PACKAGE.rglob("*.py"))
        if not m.startswith("store") and "sqlite3" in _plain_imports(path)
    ]
    assert users == []


def _plain_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from ...store import BlobStore\n", {"store"}),
        ("from ..remote import Mirror\n", {"compute.remote"}),
        ("from ...tracking import run\n", {"tracking.run"}),
        ("from . import target\n", {"compute.local.target"}),
        (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ...registry import model\n",
            set(),
        ),
        ("def f():\n    from ...frontends import submit\n", {"frontends.submit"}),
        ("import aml_jupyter.tracking.run\n", {"tracking.run"}),
        ("class A:\n    from ...registry import model\n", {"registry.model"}),
    ],
)
def test_the_checker_reads_imports_as_python_does(
    source: str, expected: set[str], tmp_path: Path
) -> None:
    # A copy of the package tree's shape in tmp_path, so relative imports resolve as they would.
    package = tmp_path / "aml_jupyter"
    for name in ("store", "tracking", "compute/local", "registry", "frontends"):
        (package / name).mkdir(parents=True, exist_ok=True)
        (package / name / "__init__.py").write_text("")
    for name in (
        "tracking/run.py",
        "compute/local/target.py",
        "compute/remote.py",
        "registry/model.py",
        "frontends/submit.py",
    ):
        (package / name).write_text("")
    probe = package / "compute" / "local" / "probe.py"
    probe.write_text(source)
    assert imports_of(probe, package) == expected
