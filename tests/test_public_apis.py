"""The package uses its libraries through their public API only (STYLE.md): no import of a
library's private module (`openai._types`, `vllm._custom_ops`, ...), which any release may move."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "arena"


def private_imports(source: str) -> list[str]:
    """Modules imported from another package whose dotted path has a `_`-prefixed part."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] != "arena" and any(p.startswith("_") and not p.startswith("__") for p in parts):
                found.append(name)
    return found


def test_the_checker_sees_a_private_import():
    assert private_imports("from openai._types import RequestOptions") == ["openai._types", "openai._types.RequestOptions"]
    assert private_imports("import vllm._custom_ops as ops\nfrom arena._x import y\nfrom __future__ import annotations") == ["vllm._custom_ops"]


def test_no_module_of_the_package_imports_a_private_module():
    offenders = {
        str(path.relative_to(PACKAGE.parent)): found
        for path in sorted(PACKAGE.rglob("*.py"))
        if (found := private_imports(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}
