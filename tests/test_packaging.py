"""A proper package: its dependencies declared, runs outside site-packages, Colab set-up that keeps
Colab's own stack."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from helpers import notebook, paths

ROOT = Path(__file__).resolve().parent.parent


def test_pyproject_declares_the_stack_and_the_pythons_tensorflow_supports():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {notebook._name(r) for r in project["dependencies"]}
    assert {"tensorflow", "keras", "ai-edge-litert", "pandas", "papermill", "ipywidgets"} <= names
    assert project["requires-python"] == ">=3.10,<3.14"
    assert {"dev", "lab", "fastai"} <= set(project["optional-dependencies"])
    assert (ROOT / "LICENSE").is_file()


def test_runs_go_to_the_project_not_into_site_packages(tmp_path, monkeypatch):
    monkeypatch.delenv("CLOTHING_HOME", raising=False)
    assert paths.project_root() == ROOT  # this checkout (installed editable)
    installed = tmp_path / "site-packages" / "helpers" / "paths.py"
    monkeypatch.setattr(paths, "__file__", str(installed))
    monkeypatch.chdir(tmp_path)
    assert paths.project_root() == tmp_path  # a plain `pip install .`: the working folder
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")
    assert paths.project_root() == tmp_path  # a notebook's folder: its project
    monkeypatch.setenv("CLOTHING_HOME", str(tmp_path / "elsewhere"))
    assert paths.project_root() == tmp_path / "elsewhere"


def test_colab_install_keeps_colabs_stack_and_installs_only_what_is_missing(
    tmp_path, monkeypatch, capsys
):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\ndependencies = ["tensorflow>=2.20", "keras>=3.13", "ipywidgets>=7.7", '
        '"pandas>=2.2", "not-installed-anywhere>=1", "json-tricks-missing"]\n'
    )
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda command, **kw: calls.append(command))
    monkeypatch.setitem(sys.modules, "json_tricks_missing", object())  # already imported
    missing = notebook.install_for_colab(pyproject)
    assert missing == ["not-installed-anywhere>=1", "json-tricks-missing"]
    assert calls == [[sys.executable, "-m", "pip", "install", "-q", *missing]]
    out = capsys.readouterr().out
    assert "Restart the runtime" in out and "json-tricks-missing" in out
    assert not any(name in " ".join(calls[0]) for name in ("tensorflow", "keras", "ipywidgets"))


@pytest.mark.parametrize(
    ("found", "problems"),
    [
        ({"tensorflow": "2.20.0", "keras": "3.13.2"}, []),
        ({"tensorflow": "2.19.1", "keras": "3.13.2"}, ["tensorflow 2.19.1 < 2.20"]),
        ({"tensorflow": "2.21.0rc1", "keras": "not installed"}, ["keras not installed < 3.13"]),
    ],
)
def test_minimum_versions(found, problems):
    assert notebook.too_old(found) == problems


def test_the_installed_versions_meet_the_minimums():
    assert notebook.too_old(notebook.versions(("tensorflow", "keras"))) == []
    assert metadata.version("clothing-classifier")


def test_setup_notebook_in_colab_works_from_the_checkout_and_installs(monkeypatch, capsys):
    """The set-up cell only fetches the project; setup_notebook does the rest in Colab."""
    import sys
    import types

    from helpers import notebook

    moved, installed = [], []
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr(notebook.os, "chdir", moved.append)
    monkeypatch.setattr(notebook, "install_for_colab", lambda: installed.append(True))
    info = notebook.setup_notebook()
    assert moved == [notebook.Path(notebook.__file__).resolve().parent.parent / "notebooks"]
    assert installed == [True] and "tensorflow" in info
    assert capsys.readouterr().out.startswith("Running in Colab: ")


def _imports(package: Path) -> dict[str, set[str]]:
    """Each module of ``package`` and the package modules it imports anywhere (functions and
    ``TYPE_CHECKING`` blocks too); importing ``a.b.c`` also runs ``a.b``'s ``__init__``."""
    import ast

    modules = {}
    for path in package.rglob("*.py"):
        parts = path.relative_to(package.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    edges = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                targets = [
                    f"{node.module}.{a.name}"
                    if f"{node.module}.{a.name}" in modules
                    else node.module
                    for a in node.names
                ]
            else:
                continue
            for target in targets:
                while target:  # the module and the packages it lies in (not this one's own)
                    if target in modules and not (name + ".").startswith(target + "."):
                        found.add(target)
                    target = target.rpartition(".")[0]
        edges[name] = found - {name}
    return edges


def _circle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import circle of ``edges`` (depth-first), or None."""
    state, stack = {}, []

    def visit(name):
        state[name] = "open"
        stack.append(name)
        for target in sorted(edges[name]):
            if state.get(target) == "open":
                return [*stack[stack.index(target) :], target]
            if target not in state and (found := visit(target)):
                return found
        stack.pop()
        state[name] = "done"
        return None

    return next(
        (found for name in sorted(edges) if name not in state and (found := visit(name))), None
    )


def test_no_import_circle_and_no_import_from_a_package_above():
    edges = _imports(ROOT / "helpers")
    for name, targets in edges.items():  # a module never imports its own package's names
        for target in targets:
            assert not name.startswith(target + "."), f"{name} imports from its package {target}"
    circle = _circle(edges)
    assert circle is None, "import circle: " + " -> ".join(circle)


def test_the_import_check_sees_circles_inside_functions(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from pkg.sub import b\n")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "b.py").write_text("import pkg.a\n")
    edges = _imports(package)
    assert edges["pkg.a"] == {"pkg.sub", "pkg.sub.b"} and edges["pkg.sub.b"] == {"pkg.a"}
    assert _circle(edges) == ["pkg.a", "pkg.sub.b", "pkg.a"]
    (package / "sub" / "b.py").write_text("import json\n")
    assert _circle(_imports(package)) is None
