"""Regenerate the screens of docs/console.md: python docs/make_console_screens.py [OUT_DIR]

Runs the browser tests (tests/test_console_browser.py: Debian's Chromium driven by
Playwright, against `python -m wio.console.demo`), which save a screenshot at each
step they check when WIO_CONSOLE_SCREENSHOTS names a folder. Needs Chromium and
``pip install -e '.[dev,server]'`` (see .ci/run).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCREENS = ROOT / "docs" / "pictures" / "console"


def main() -> int:
    out = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else SCREENS
    out.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/test_console_browser.py"],
        cwd=ROOT,
        env={**os.environ, "WIO_CONSOLE_SCREENSHOTS": str(out), "CI": "true"},
    )  # fmt: skip
    if done.returncode == 0:
        print(f"wrote {', '.join(sorted(p.name for p in out.glob('*.png')))} in {out}")
    return done.returncode


if __name__ == "__main__":
    raise SystemExit(main())
