"""The app shell stays small: the JavaScript a first visit loads before any screen is opened (app.js and every
module it imports, statically, all the way down) and the stylesheets index.html links, gzip-compressed, under
200 KB. Screens loaded on demand (a dynamic `import()`) and vendor files (uPlot, loaded by the IoT screens) are
not part of it."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PWA = ROOT / "pwa"
BUDGET = 200 * 1024
_STATIC_IMPORT = re.compile(
    r"""^\s*(?:import|export)\s[^;'"]*?\sfrom\s+['"](\.{1,2}/[^'"]+)['"]|^\s*import\s+['"](\.{1,2}/[^'"]+)['"]""",
    re.MULTILINE,
)


def shell_modules() -> set[Path]:
    seen: set[Path] = set()
    waiting = [PWA / "app.js"]
    while waiting:
        module = waiting.pop().resolve()
        if module in seen:
            continue
        seen.add(module)
        for found in _STATIC_IMPORT.finditer(module.read_text()):
            waiting.append(module.parent / (found.group(1) or found.group(2)))
    return seen


def shell_stylesheets() -> list[Path]:
    names = re.findall(r'<link rel="stylesheet" href="/static/([^"]+\.css)"', (PWA / "index.html").read_text())
    return [ROOT / "static" / name for name in names]


def test_the_module_scan_follows_imports() -> None:
    modules = {path.relative_to(PWA).as_posix() for path in shell_modules()}
    assert {"app.js", "js/routes.js", "js/core/router.js", "js/core/i18n.js"} <= modules


def test_the_shell_is_under_200_kb_compressed() -> None:
    files = [*shell_modules(), *shell_stylesheets()]
    sizes = {path: len(gzip.compress(path.read_bytes(), 9)) for path in files}
    total = sum(sizes.values())
    biggest = ", ".join(
        f"{path.relative_to(ROOT)} {size // 1024} KB" for path, size in sorted(sizes.items(), key=lambda kv: -kv[1])[:5]
    )
    assert total < BUDGET, f"the shell is {total / 1024:.0f} KB compressed (budget 200 KB); biggest: {biggest}"
