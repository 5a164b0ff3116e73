"""Every experiment's report, rendered in headless Chromium (Debian's package) by Playwright.

Checks: the page loads with no console errors and no network requests, every plot drew,
the verdict text is there, user text is escaped. Screenshots land in the pytest tmp dir.
"""

import shutil
from pathlib import Path

import pytest
from conftest import SMALL_RUNS

from initscope.runner import run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright = pytest.importorskip("playwright.sync_api", reason="playwright is installed by `scripts/install.sh --test`")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is installed by `scripts/install.sh --test`")

SMALL = SMALL_RUNS  # every experiment at a small size, run once per session (conftest's small_run)
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _render(browser, path: Path, shot: Path) -> dict:
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    errors, requests = [], []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path.resolve().as_uri(), wait_until="load")
    info = page.evaluate(
        """() => ({
            plots: document.querySelectorAll('.js-plotly-plot').length,
            drawn: [...document.querySelectorAll('.js-plotly-plot')].filter(d => d.querySelector('.main-svg') && (d._fullData || []).length > 0).length,
            verdicts: [...document.querySelectorAll('.verdict')].map(v => v.textContent.trim()),
            links: document.querySelectorAll('a[download]').length,
        })"""
    )
    page.screenshot(path=str(shot), full_page=True)
    page.close()
    info["errors"], info["external"] = errors, [u for u in requests if not u.startswith(("file:", "data:", "blob:"))]
    return info


@pytest.mark.parametrize("name", sorted(SMALL))
def test_report_renders_offline_with_every_plot_drawn(browser, tmp_path, name, small_run):
    from initscope.experiments import EXPERIMENTS

    assert set(SMALL) == set(EXPERIMENTS), "every experiment needs a browser test"
    rec = small_run(name)  # written with figures=False: the page, not the PNGs (shared: only read)
    info = _render(browser, rec.path / "report.html", tmp_path / f"{name}.png")
    assert info["errors"] == [], info["errors"]
    assert info["external"] == [], info["external"]
    assert info["plots"] >= 1 and info["drawn"] == info["plots"], info
    assert info["verdicts"] and all(len(v) > 10 for v in info["verdicts"]), info["verdicts"]
    assert info["links"] >= 1  # the tidy tables as CSV


def test_user_text_is_escaped(browser, tmp_path):
    from initscope.report.html import render

    meta = {"experiment": "<script>alert(1)</script>", "config": {"name": "<img src=x onerror=alert(2)>"}, "seed": 0}
    page = tmp_path / "x.html"
    page.write_text(render("<b>title</b>", meta, [], {}))
    info = _render(browser, page, tmp_path / "x.png")
    assert info["errors"] == [] and "<script>alert" not in page.read_text().split("</script>", 1)[1]


def test_thousand_layer_report_stays_small(tmp_path):
    rec = run("kaiming-variance", {"depth": 1000, "width": 16, "networks": 16, "samples": 16, "sample_networks": 2,
                                       "compare_norms": (), "theory_replicates": 20}, out=tmp_path / "k",
              figures=False)
    assert (rec.path / "report.html").stat().st_size < 10 * 2**20
