"""Screenshots of `prism serve`'s pages for the docs (docs/images/serve_*.png), taken with Debian's Chromium.

    prism serve --workdir WS --port 8765 &        # a workspace with results
    python tools/serve_screenshots.py http://127.0.0.1:8765 docs/images [--checkpoint | --live]

`--checkpoint` and `--live` take only the overview, as serve_checkpoint.png (while a loop waits at a
checkpoint) or serve_live.png (while a loop works).
"""

from __future__ import annotations

import base64
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.helpers.browser import chromium  # noqa: E402

WIDTH = 1280
PAGES = {"overview": "/", "channels": "/channels", "plan": "/plan", "report": "/report", "ask": "/ask"}
QUESTION = "what if we cut google search by 20%"
SETTLE = 2.0  # seconds for the charts to draw


def full_page(driver, path: Path) -> None:
    """The whole page, not just the window (Chrome DevTools' capture beyond the viewport)."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": WIDTH, "height": height, "scale": 1}})
    path.write_bytes(base64.b64decode(shot["data"]))


def main(base: str, out: Path, live: str | None) -> None:
    pages = {live: "/"} if live else PAGES
    with chromium(WIDTH, 900) as driver:
        for name, route in pages.items():
            driver.get(base + route)
            time.sleep(SETTLE)
            if name == "ask":
                driver.find_element("id", "ask-q").send_keys(QUESTION + "\n")
                time.sleep(SETTLE)
            full_page(driver, out / f"serve_{name}.png")
            print(f"wrote {out / f'serve_{name}.png'}")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    main(args[0], Path(args[1]), next((a[2:] for a in sys.argv if a in ("--checkpoint", "--live")), None))
