"""The engine imports no adapter and no composition root (GUIDE: adapters depend on the engine,
never the reverse).

Two checks, because each misses what the other sees: the static one reads every ``import`` of every
file under ``callwright/`` (inside functions too, where a lazy import hides from a plain import
test); the dynamic one imports every module of the package in a fresh interpreter and looks at
what ended up in ``sys.modules`` (an import made by a dependency, or through a name the parser
cannot see).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import callwright

ENGINE_DIR = Path(callwright.__file__).resolve().parent
#: The top-level packages the engine must never import: the adapters, the admin web app, the
#: ``callwright`` command's composition root, and what only tests and benchmarks use.
FORBIDDEN = frozenset({"ari_app", "fs_app", "agi", "admin", "cli", "bench", "tests"})


def imported_names(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, dotted module name) of every absolute import in ``tree``, wherever it stands,
    including ``importlib.import_module("x")`` and ``__import__("x")`` with a literal name."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0]
            if name in ("import_module", "__import__") and isinstance(first, ast.Constant) \
                    and isinstance(first.value, str):
                found.append((node.lineno, first.value))
    return found


def forbidden_imports(root: Path) -> list[str]:
    """``path:line imports name`` for every import of a forbidden package under ``root``."""
    problems = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for line, name in imported_names(tree):
            if name.split(".")[0] in FORBIDDEN:
                problems.append(f"{path.relative_to(root.parent)}:{line} imports {name}")
    return problems


def test_no_engine_file_imports_an_adapter_or_the_cli() -> None:
    assert forbidden_imports(ENGINE_DIR) == []


def test_the_static_check_sees_imports_inside_functions(tmp_path: Path) -> None:
    package = tmp_path / "callwright"
    package.mkdir()
    (package / "ok.py").write_text("import json\nfrom callwright.errors import CallwrightError\n")
    (package / "lazy.py").write_text(
        "import importlib\n"
        "def run():\n"
        "    from ari_app.service import CallService\n"
        "    import agi.cli\n"
        "    return importlib.import_module('admin.app')\n"
    )
    assert forbidden_imports(package) == [
        "callwright/lazy.py:3 imports ari_app.service",
        "callwright/lazy.py:4 imports agi.cli",
        "callwright/lazy.py:5 imports admin.app",
    ]


#: Imports every module of the package named by argv[1], then reports which of the top-level
#: packages named by argv[2:] got loaded, and the modules that could not be imported at all.
IMPORT_ALL = """
import importlib, json, pkgutil, sys
package = importlib.import_module(sys.argv[1])
failed = {}
for info in pkgutil.walk_packages(package.__path__, sys.argv[1] + "."):
    if info.name.rsplit(".", 1)[-1] == "__main__":
        continue
    try:
        importlib.import_module(info.name)
    except Exception as exc:
        failed[info.name] = f"{type(exc).__name__}: {exc}"
forbidden = sorted({name.split(".")[0] for name in sys.modules} & set(sys.argv[2:]))
print(json.dumps({"forbidden": forbidden, "failed": failed}))
"""


def import_report(package: str, forbidden: frozenset[str], cwd: Path) -> dict[str, object]:
    """Import every module of ``package`` in a fresh interpreter started in ``cwd``."""
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_ALL, package, *sorted(forbidden)],
        capture_output=True, text=True, timeout=120, check=True, cwd=cwd,
    )
    report: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def test_importing_every_engine_module_loads_no_adapter() -> None:
    report = import_report("callwright", FORBIDDEN, ENGINE_DIR.parent)
    assert report == {"forbidden": [], "failed": {}}


def test_the_dynamic_check_sees_a_module_loaded_at_import_time(tmp_path: Path) -> None:
    (tmp_path / "probe_engine" / "inner").mkdir(parents=True)
    (tmp_path / "probe_engine" / "__init__.py").write_text("")
    (tmp_path / "probe_engine" / "inner" / "__init__.py").write_text("")
    (tmp_path / "probe_engine" / "inner" / "uses.py").write_text("import probe_adapter\n")
    (tmp_path / "probe_adapter.py").write_text("")
    report = import_report("probe_engine", frozenset({"probe_adapter"}), tmp_path)
    assert report == {"forbidden": ["probe_adapter"], "failed": {}}
