"""The package's modules import one another without cycles (each one's job sits below its users)."""
import ast
from pathlib import Path

import vsr

PACKAGE = Path(vsr.__file__).parent


def _imports() -> dict[str, set[str]]:
    """Module -> the vsr modules it imports, at the top, in functions or for type checking alike."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ("vsr", *path.relative_to(PACKAGE).with_suffix("").parts)
        package = parts[:-1]  # what a relative import of one level names
        name = ".".join(package if path.name == "__init__.py" else parts)
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = ".".join(package[: len(package) - node.level + 1])
                deps |= {f"{base}.{node.module}"} if node.module else {f"{base}.{a.name}" for a in node.names}
        found[name] = deps
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
