"""The import graph of the ROS packages, the core and the training workspace stays one-way.

Parsed with ``ast`` (nothing is imported, so the check runs without ROS, torch or a GPU):
every ``import``/``from ... import`` counts, at module level and inside functions, because a
lazy import only hides a cycle until the day both modules are loaded in the other order.
Rules checked: no cycle between modules; ``emotion_core`` imports neither rclpy nor torch (it
is the robot's torch-free library); no ROS package imports the training workspace; the nodes'
package does not import the recorded-data package (the dependency is the other way round).
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import Iterable, Iterator, Optional

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: Python package name -> folder holding it.
PACKAGES: dict[str, Path] = {
    "emotion_core": ROOT / "src/emotion_core/emotion_core",
    "emotion_ros": ROOT / "src/emotion_ros/emotion_ros",
    "emotion_recorded": ROOT / "src/emotion_recorded/emotion_recorded",
    "emotion_training": ROOT / "training/emotion_training",
}
ROS_PACKAGES = ("emotion_core", "emotion_ros", "emotion_recorded")
#: Command-line tools of the core and their compatibility paths: not for run-time code.
CORE_TOOLS = ("emotion_core.tools", "emotion_core.assets", "emotion_core.sample_model")


def module_files(package: str, folder: Path) -> Iterator[tuple[str, Path]]:
    """(dotted module name, file) of every module of ``package``."""
    for path in sorted(folder.rglob("*.py")):
        rel = path.relative_to(folder).with_suffix("")
        parts = [package, *rel.parts]
        if parts[-1] == "__init__":
            parts.pop()
        yield ".".join(parts), path


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module a (possibly relative) ``from`` import names."""
    if not node.level:
        return node.module or ""
    base = module.split(".")
    # A package's own __init__ is level 1 = itself; a module's level 1 = its package.
    drop = node.level - 1 if is_package else node.level
    base = base[: len(base) - drop] if drop else base
    return ".".join(base + ([node.module] if node.module else []))


def imported_names(module: str, path: Path) -> Iterator[tuple[str, int]]:
    """(imported module or ``module.name`` candidate, line) for every import in the file,
    wherever it sits (module level, function, ``try``, ``if TYPE_CHECKING``)."""
    tree = ast.parse(path.read_text(), str(path))
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, is_package, node)
            yield target, node.lineno
            for alias in node.names:  # ``from pkg import submodule``
                yield f"{target}.{alias.name}", node.lineno


def _known(name: str, modules: set[str]) -> Optional[str]:
    """The longest known module that ``name`` is or lies inside, else None."""
    parts = name.split(".")
    for n in range(len(parts), 0, -1):
        candidate = ".".join(parts[:n])
        if candidate in modules:
            return candidate
    return None


def build_graph(packages: dict[str, Path]) -> tuple[dict[str, set[str]], dict[str, list[tuple[str, int]]]]:
    """Edges between known modules, and every raw import per module (for the external rules).

    An import of ``a.b.c`` also loads the packages ``a`` and ``a.b`` (their ``__init__``),
    which is how a package-level re-export closes a cycle, so those edges are added too; a
    module's own parent packages are not edges (Python has already loaded them)."""
    files = {m: p for pkg, folder in packages.items() if folder.is_dir() for m, p in module_files(pkg, folder)}
    modules = set(files)
    graph: dict[str, set[str]] = {m: set() for m in modules}
    raw: dict[str, list[tuple[str, int]]] = {}
    for module, path in files.items():
        raw[module] = list(imported_names(module, path))
        own_parents = {".".join(module.split(".")[:n]) for n in range(1, module.count(".") + 1)}
        for name, _ in raw[module]:
            target = _known(name, modules)
            if target is None:
                continue
            parts = target.split(".")
            for n in range(1, len(parts) + 1):
                dep = ".".join(parts[:n])
                if dep in modules and dep != module and dep not in own_parents:
                    graph[module].add(dep)
    return graph, raw


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
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
            visit(v)
    return out


def _offending(raw: dict[str, list[tuple[str, int]]], modules: Iterable[str], prefix: str,
               forbidden: Iterable[str]) -> list[str]:
    bad = tuple(forbidden)
    return [f"{m}:{line} imports {name}" for m in sorted(modules) if m.split(".")[0] == prefix
            for name, line in raw[m] if name.split(".")[0] in bad]


@pytest.fixture(scope="module")
def project() -> tuple[dict[str, set[str]], dict[str, list[tuple[str, int]]]]:
    return build_graph(PACKAGES)


def test_every_package_is_found(project):
    graph, _ = project
    for pkg in PACKAGES:
        assert pkg in graph, f"{pkg} not found at {PACKAGES[pkg]}: the test would check nothing"
    assert len(graph) > 60


def test_no_import_cycle(project):
    graph, _ = project
    cycles = find_cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_core_is_free_of_ros_and_torch(project):
    _, raw = project
    bad = _offending(raw, raw, "emotion_core", ("rclpy", "torch", "torchvision", "emotion_ros",
                                                 "emotion_recorded", "emotion_training"))
    assert not bad, "\n".join(bad)


def test_no_ros_package_imports_the_training_workspace(project):
    _, raw = project
    bad = [b for pkg in ROS_PACKAGES for b in _offending(raw, raw, pkg, ("emotion_training",))]
    assert not bad, "\n".join(bad)


def test_nodes_do_not_import_the_recorded_data_tools(project):
    _, raw = project
    bad = _offending(raw, raw, "emotion_ros", ("emotion_recorded",))
    assert not bad, "\n".join(bad)


def test_training_imports_no_ros_package(project):
    _, raw = project
    bad = _offending(raw, raw, "emotion_training", ("rclpy", "emotion_ros", "emotion_recorded"))
    assert not bad, "\n".join(bad)


def test_run_time_code_does_not_import_the_core_tools(project):
    graph, _ = project
    runtime = [m for m in graph if m.split(".")[0] in ("emotion_core", "emotion_ros")
               and not m.startswith(CORE_TOOLS)]
    bad = [f"{m} imports {d}" for m in sorted(runtime) for d in sorted(graph[m]) if d.startswith(CORE_TOOLS)]
    assert not bad, "\n".join(bad)


def test_nodes_load_without_plotting_torch_tools_or_recorded_data():
    """Importing every node module (what a robot process does) loads none of these: they are
    heavy (matplotlib, torch) or belong to other packages. Plotting stays lazy in the core."""
    code = ("import sys\n"
            "import emotion_ros.emotion_node, emotion_ros.av_sync_node, emotion_ros.camera_node, "
            "emotion_ros.audio_node, emotion_ros.monitor_node, emotion_ros.graph\n"
            "heavy = ('matplotlib', 'torch', 'emotion_core.tools', 'emotion_recorded', 'emotion_training')\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy or m.startswith(heavy)))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


# The checker itself must be able to fail: a planted cycle, a lazy one, a relative one.
def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_checker_finds_a_function_level_cycle(tmp_path):
    pkg = _write(tmp_path / "pkg", {
        "__init__.py": "",
        "a.py": "from .b import thing\n",
        "b.py": "def f():\n    from pkg.a import other\n    return other\n",
        "c.py": "import pkg.a\n",
    })
    graph, _ = build_graph({"pkg": pkg})
    assert graph["pkg.c"] == {"pkg.a"}
    assert find_cycles(graph) == [["pkg.a", "pkg.b"]]


def test_checker_sees_cycles_through_a_package_init(tmp_path):
    pkg = _write(tmp_path / "pkg", {
        "__init__.py": "",
        "sub/__init__.py": "from .x import X\n",
        "sub/x.py": "X = 1\n",
        "y.py": "from pkg.sub.x import X\n",
        "sub/z.py": "from .. import y\n",
    })
    graph, _ = build_graph({"pkg": pkg})
    assert "pkg.sub" in graph["pkg.y"]  # importing pkg.sub.x runs pkg/sub/__init__.py
    assert graph["pkg.sub.z"] == {"pkg.y"}
    assert find_cycles(graph) == []
    (pkg / "sub/x.py").write_text("from .z import Z\nX = 1\n")
    graph, _ = build_graph({"pkg": pkg})
    assert find_cycles(graph) == [["pkg.sub", "pkg.sub.x", "pkg.sub.z", "pkg.y"]]
