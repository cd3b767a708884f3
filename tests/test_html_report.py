"""`bnncompile report --html`: a self-contained page, checked in a real browser
(headless Chromium, the system's, driven by Playwright): it renders with no
console errors, fetches nothing, and shows every layer, the arena and flash."""
import os
import shutil

import numpy as np
import pytest
from builders import GraphBuilder, signs
from conftest import run_cli

from bnncompile.codegen.report import layer_rows
from bnncompile.compiler import compile_to_memory

CNN = "tests/fixtures/larq/larq_cnn_op13.onnx"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
REQUIRE_TOOLS = os.environ.get("BNN_REQUIRE_TOOLS") == "1"


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if REQUIRE_TOOLS:
            raise
        pytest.skip("needs playwright (pip)")
    if not os.path.exists(CHROMIUM):
        if REQUIRE_TOOLS:
            pytest.fail(f"{CHROMIUM} is missing (Debian package chromium)")
        pytest.skip("needs chromium (Debian package)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)  # never a downloaded browser
        yield b
        b.close()


def open_page(browser, path):
    """Load the file; return (page, problems): console errors/warnings, page errors,
    dialogs, and any request that is not the file itself."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    problems = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning")
            else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
    url = path.resolve().as_uri()
    page.on("request", lambda r: problems.append(f"request: {r.url}") if r.url != url else None)
    page.goto(url)
    page.wait_for_load_state("load")
    return page, problems


def test_cnn_report_renders_every_layer_the_arena_and_flash(browser, tmp_path):
    html = tmp_path / "cnn.html"
    r = run_cli("report", CNN, "--html", html)
    assert r.returncode == 0, r.stderr
    compiled = compile_to_memory(CNN)
    rows = layer_rows(compiled.graph, compiled.plan)
    page, problems = open_page(browser, html)
    try:
        assert page.title() == f"bnncompile report: {compiled.plan.name}"
        table = page.locator("#layers tbody tr")
        assert table.count() == len(rows)
        for i, row in enumerate(rows):
            cells = table.nth(i).locator("td")
            assert cells.nth(0).inner_text() == str(row.index)
            assert cells.nth(2).inner_text() == row.step
            assert cells.nth(12).inner_text() == row.origin
        arena_buffers = {id(b) for b in compiled.plan.buffers.values() if b.where == "arena" and b.owner is None}
        assert page.locator("#arena rect.buf").count() == len(arena_buffers)
        assert page.locator("#flash rect.seg").count() == sum(1 for r in rows if r.weight_bytes + r.threshold_bytes) \
            + (1 if "code" in r.stdout else 0)
        for chart in ("#layers", "#arena", "#flash"):
            box = page.locator(chart).bounding_box()
            assert box and box["width"] > 100 and box["height"] > 20, chart
        # every arena box lies inside the chart: offsets and lifetimes were drawn to scale
        inside = page.evaluate("""() => {
            const frame = document.querySelector('#arena g > rect').getBBox();
            return [...document.querySelectorAll('#arena rect.buf')].every(r => {
                const b = r.getBBox();
                return b.x >= frame.x - 0.01 && b.y >= frame.y - 0.01 && b.width > 0 && b.height > 0 &&
                       b.x + b.width <= frame.x + frame.width + 0.01 && b.y + b.height <= frame.y + frame.height + 0.01;
            });
        }""")
        assert inside
        assert page.locator("script, link, img, iframe").count() == 0  # self-contained
        page.screenshot(path=str(tmp_path / "cnn.png"), full_page=True)
    finally:
        page.close()
    assert problems == []


def test_hostile_names_are_text_and_notes_are_shown(browser, tmp_path):
    """Node names come from the model file: the page must show them as text, never run them."""
    rng = np.random.default_rng(0)
    b = GraphBuilder([16])
    b.where_sign()
    w = signs(rng, (16, 8))
    w[2, 3] = 0  # a stray zero: the layer runs as a real kernel, with a note
    b.matmul(w)
    b.nodes[-1].name = '<script>alert("x")</script>'
    b.where_sign()
    b.matmul(signs(rng, (8, 4)))
    b.nodes[-1].name = '"><img src=x onerror=alert(1)>'
    path = b.save(tmp_path / "hostile.onnx")
    import bnncompile

    with bnncompile.compile(path) as model:
        html = model.html_report(tmp_path / "hostile.html", measure=False)
    page, problems = open_page(browser, html)
    try:
        assert page.locator("script, img").count() == 0
        origins = page.locator("#layers td.origin").all_inner_texts()
        assert '<script>alert("x")</script>' in origins and '"><img src=x onerror=alert(1)>' in origins
        flagged = page.locator("#layers tr.flagged")
        assert flagged.count() == 1 and "1 of 128 weights are exactly 0" in flagged.inner_text()
        assert "1 of 128 weights are exactly 0" in page.locator("ul.notes").inner_text()
    finally:
        page.close()
    assert problems == []
