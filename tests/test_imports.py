"""The package's modules import one another without cycles (each one's job sits below its users)."""
import ast
from pathlib import Path

import vsr

PACKAGE = Path(vsr.__file__).parent


def _imports() -> dict[str, set[str]]:
    """Module -> the vsr modules it imports, relatively or by name, at the top, in functions or for
    type checking alike."""
    paths = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ("vsr", *path.relative_to(PACKAGE).with_suffix("").parts)
        paths[".".join(parts[:-1] if path.name == "__init__.py" else parts)] = (path, parts[:-1])
    found = {}
    for name, (path, package) in paths.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                deps |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = ".".join(package[: len(package) - node.level + 1]) if node.level else ""
                module = ".".join(filter(None, (base, node.module)))
                # `from X import Y` imports the module X.Y where there is one, else X
                deps |= {f"{module}.{a.name}" if f"{module}.{a.name}" in paths else module for a in node.names}
        found[name] = {d for d in deps if d in paths and d != name}
    return found


def test_vsr_modules_import_one_another_without_cycles():
    imports = _imports()

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            for dep in imports.get(todo.pop(), ()):
                if dep == goal:
                    return True
                if dep in imports and dep not in seen:
                    seen.add(dep)
                    todo.append(dep)
        return False

    cycles = sorted({tuple(sorted((a, b))) for a, deps in imports.items() for b in deps if b in imports and reaches(b, a)})
    assert cycles == []
