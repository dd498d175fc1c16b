"""The package itself: docstrings on everything, help() that reads well, the
.pyi stub and py.typed matching the module, and `cmake --install` putting a
working package into a site-packages dir."""

import ast
import inspect
import json
import os
import pydoc
import re
import subprocess
import sys
from pathlib import Path

import automate
from conftest import BUILD

PACKAGE = Path(automate.__file__).parent
DUNDERS_WITH_DOCS = {"__iter__", "__next__", "__enter__", "__exit__", "__repr__", "__init__"}


def public_members(cls):
    for name, value in vars(cls).items():
        if name == "__init__" and not (value.__doc__ or "").startswith("__init__("):
            continue  # Not constructible from Python (pybind11's placeholder).
        if not name.startswith("_") or name in DUNDERS_WITH_DOCS:
            yield name, value


def test_docstrings_on_everything():
    assert len(automate.__doc__) > 200
    for name in automate.__all__:
        obj = getattr(automate, name)
        if not inspect.isclass(obj) and not callable(obj):
            continue
        assert obj.__doc__ and obj.__doc__.strip(), f"automate.{name} has no docstring"
        if inspect.isclass(obj) and not issubclass(obj, BaseException):
            for member, value in public_members(obj):
                doc = getattr(value, "__doc__", None)
                assert doc and doc.strip(), f"automate.{name}.{member} has no docstring"


def test_help_reads_well():
    text = pydoc.render_doc(automate.Engine, renderer=pydoc.plaintext)
    for expected in ("class Engine(BaseEngine)", "Engine(state_dir=None, *, max_running=16",
                     "apply(spec) -> list[Job]", "run(job, /, args=None, *, job_version=0, **params)",
                     "history(job=None, limit=50, state=None)", "One engine dispatches a state dir",
                     "Methods inherited from BaseEngine", "set_secret(name, value)"):
        assert expected in text, f"{expected!r} not in help(automate.Engine):\n{text}"
    assert "automate._automate" not in text
    text = pydoc.render_doc(automate.Execution, renderer=pydoc.plaintext)
    for expected in ("wait(timeout=None) -> Execution", "logs(follow=False, offset=0) -> LogStream",
                     "Ctrl-C interrupts it"):
        assert expected in text
    assert "Client(server, token=None" in pydoc.render_doc(automate.Client,
                                                           renderer=pydoc.plaintext)


def stub_classes():
    tree = ast.parse((PACKAGE / "__init__.pyi").read_text())
    classes, names = {}, set()
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            members = {n.name for n in node.body if isinstance(n, (ast.FunctionDef, ast.AnnAssign))
                       and not isinstance(n, ast.AnnAssign)}
            members |= {n.target.id for n in node.body if isinstance(n, ast.AnnAssign)}
            classes[node.name] = (members, [b.id for b in node.bases if isinstance(b, ast.Name)])
            names.add(node.name)
        elif isinstance(node, ast.FunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign):
            names.add(node.target.id)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return classes, names


def test_stub_matches_the_module():
    assert (PACKAGE / "py.typed").exists()
    classes, names = stub_classes()
    assert set(automate.__all__) <= names
    for name in automate.__all__:
        obj = getattr(automate, name)
        if not inspect.isclass(obj) or issubclass(obj, BaseException):
            continue
        assert name in classes, f"class {name} missing from the stub"

        def stub_members(cls_name):
            members, bases = classes.get(cls_name, (set(), []))
            for base in bases:
                members = members | stub_members(base)
            return members

        runtime = {m for m, _ in public_members(obj)} - {"__repr__"}
        for base in obj.__mro__[1:]:
            if base.__module__ == "automate":
                runtime |= {m for m, _ in public_members(base)} - {"__repr__"}
        declared = stub_members(name)
        assert runtime - declared == set(), f"{name}: not in the stub: {runtime - declared}"
        missing = {m for m in declared if not hasattr(obj, m)}
        assert not missing, f"{name}: in the stub but not in the module: {missing}"


def test_cmake_install_into_site_packages(tmp_path):
    cache = (BUILD / "CMakeCache.txt").read_text()
    site = re.search(r"^AUTOMATE_PYTHON_INSTALL_DIR:STRING=(.*)$", cache, re.M).group(1)
    assert site.endswith("dist-packages") or site.endswith("site-packages"), site
    prefix = tmp_path / "prefix"
    r = subprocess.run(["cmake", "--install", str(BUILD), "--component", "python", "--prefix",
                        str(prefix)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    installed = (prefix / site if not os.path.isabs(site) else Path(site)) / "automate"
    assert {p.name for p in installed.iterdir()} >= {"__init__.py", "__init__.pyi", "py.typed"}
    assert any(p.name.startswith("_automate.") and p.suffix == ".so" for p in installed.iterdir())
    # A fresh interpreter, with only the installed copy on its path.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(installed.parent)
    code = ("import automate, sys; e = automate.Engine(sys.argv[1]);"
            "e.apply({'name': 'hi', 'executor': {'local': {'command': ['echo', 'hi']}}});"
            "x = e.run('hi').wait(); print(automate.__file__, x.state, list(x.logs().lines()))")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "state")], capture_output=True,
                       text=True, timeout=60, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(str(installed / "__init__.py"))
    assert r.stdout.rstrip().endswith("succeeded ['hi']")


def test_the_platlib_default_is_the_interpreters():
    # The default is /usr/bin/python3's own site-packages: relative to the
    # install prefix when under it (the default /usr/local), else absolute.
    # Asked of /usr/bin/python3 itself (the interpreter the module is built
    # for), whatever runs these tests.
    r = subprocess.run(["/usr/bin/python3", "-c",
                        "import json, sys, sysconfig; print(json.dumps([sysconfig.get_paths()['platlib'], sys.path]))"],
                       capture_output=True, text=True, timeout=30, check=True)
    platlib, path = json.loads(r.stdout)
    cache = (BUILD / "CMakeCache.txt").read_text()
    site = re.search(r"^AUTOMATE_PYTHON_INSTALL_DIR:STRING=(.*)$", cache, re.M).group(1)
    prefix = re.search(r"^CMAKE_INSTALL_PREFIX:PATH=(.*)$", cache, re.M).group(1)
    full = Path(site) if os.path.isabs(site) else Path(prefix) / site
    assert str(full) == platlib, (site, prefix, platlib)
    # site.py only lists directories that exist.
    assert platlib in path or not os.path.isdir(platlib), path
