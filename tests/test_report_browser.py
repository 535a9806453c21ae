"""The report in a real headless Chromium: no script errors or dialogs, working filter and sort, playable media.

Skipped where /usr/bin/chromium is absent. Screenshots are saved beside the
report (``$AUDIODISSECT_SCREENSHOTS`` names a folder to copy them to).
"""

import os
import re
import shutil
import subprocess
import urllib.parse
from pathlib import Path

import pytest

from audiodissect.progress import silent
from audiodissect.config import ReportConfig
from audiodissect.report import build_report

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not CHROMIUM.exists() and not os.environ.get("AUDIODISSECT_REQUIRE_BROWSER"),
                                 reason="needs a headless Chromium at /usr/bin/chromium")]


def chromium(url: str, profile: Path, *extra: str, timeout: float = 45) -> subprocess.CompletedProcess:
    """Run headless Chromium on `url`; a timeout means the page hung (e.g. a dialog such as alert() opened)."""
    cmd = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
           *extra, url]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"Chromium hung on {url}: a JavaScript dialog (alert) may have opened")


def console_lines(stderr: str) -> list[str]:
    """Console messages and uncaught errors the page produced."""
    return [line for line in stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    from test_analyses import TopicEmbedder
    from test_report import make_run

    from test_analyses import analyze

    tmp = tmp_path_factory.mktemp("browser")
    run, probe = make_run(tmp)
    analyze(run, k=2, embedder=TopicEmbedder())
    return build_report(run, probe=probe, hook=silent, settings=ReportConfig(units_per_layer=1)), tmp


def test_filter_and_sort_work_in_the_browser_without_errors(report):
    index, tmp = report
    url = index.as_uri() + "#selftest&layer=mid&q=dog&sort=score"
    done = chromium(url, tmp / "profile-index", "--dump-dom")
    assert done.returncode == 0, done.stderr[-2000:]
    assert console_lines(done.stderr) == []
    out = re.search(r'<output id="selftest"[^>]*>', done.stdout).group(0)
    attrs = dict(re.findall(r'data-(\w+)="([^"]*)"', out))
    # 9 units in all; in layer 'mid', mid#0 and mid#2 name 'dog' under tab/soft_wpmi (mid#1's concept is the
    # injected string, its summary says 'barking'); sorted by score, descending: mid#2 (2.5) first
    assert attrs == {"before": "9", "visible": "2", "first": "mid#2"}
    assert "data-pwned" not in done.stdout
    assert 'id="units-count"' in done.stdout and "2 of 9 units match" in done.stdout


def test_unit_pages_load_clean_and_their_media_exist(report):
    index, tmp = report
    pages = sorted((index.parent / "units").glob("*.html"))
    assert len(pages) == 3
    for n, page in enumerate(pages):
        done = chromium(page.as_uri(), tmp / f"profile-{n}", "--dump-dom")
        assert done.returncode == 0, done.stderr[-2000:]
        assert console_lines(done.stderr) == []
        assert "data-pwned" not in done.stdout
        srcs = re.findall(r'<audio[^>]*src="([^"]+)"', done.stdout)
        assert len(srcs) == 8
        for src in srcs + re.findall(r'<img src="([^"]+)"', done.stdout):
            target = (page.parent / urllib.parse.unquote(src)).resolve()
            assert target.is_file() and target.stat().st_size > 100


def test_screenshots(report):
    index, tmp = report
    shots = []
    for name, url in [("index", index.as_uri()),
                      ("unit", sorted((index.parent / "units").glob("mid_1*.html"))[0].as_uri())]:
        png = index.parent / f"screenshot-{name}.png"
        done = chromium(url, tmp / f"profile-shot-{name}", f"--screenshot={png}", "--window-size=1280,1800",
                        "--hide-scrollbars")
        assert done.returncode == 0, done.stderr[-2000:]
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
        shots.append(png)
    keep = os.environ.get("AUDIODISSECT_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        for png in shots:
            shutil.copy(png, Path(keep) / png.name)


def test_wide_pruning_table_stays_inside_a_1400px_window_and_shows_no_nan(tmp_path):
    """The pruning table (every column of the paper's table, long concept names, a NaN) neither widens the page
    at 1400 px nor shows "NaN"."""
    import json

    from audiodissect.prune.evaluate import TABLE_COLUMNS
    from test_report import make_run

    run, probe = make_run(tmp_path)
    rows = []
    for n, strategy in enumerate(["tab", "db", "ocp", "random~tab", "random~db", "random~ocp"]):
        row = {c: 1234.5678 + n for c in TABLE_COLUMNS}
        row.update(strategy=strategy, n_concepts=17, n_empty=0, vs_random=float("nan") if "random" in strategy
                   else 1.5, beats_random=None if "random" in strategy else 15, dA=float("nan") if n == 2 else -5.1)
        rows.append(row)
    (run.path / "pruning" / "table.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    index = build_report(run, probe=probe, hook=silent, settings=ReportConfig(units_per_layer=0))
    # measure the laid-out page: the widest element's right edge, and the document's scroll width
    probe_page = index.parent / "measure.html"
    probe_page.write_text(index.read_text().replace(
        "</body>", "<script>window.addEventListener('load', function () {"
                   "var right = 0; document.querySelectorAll('body *').forEach(function (e) {"
                   "var box = e.getBoundingClientRect(); if (box.width && !e.closest('.table-wrap table')) "
                   "right = Math.max(right, box.right); });"
                   "document.body.setAttribute('data-scroll', document.documentElement.scrollWidth);"
                   "document.body.setAttribute('data-right', Math.ceil(right)); });</script></body>"))
    done = chromium(probe_page.as_uri(), tmp_path / "profile", "--dump-dom", "--window-size=1400,1000",
                    "--hide-scrollbars", "--virtual-time-budget=3000")
    assert done.returncode == 0, done.stderr[-2000:]
    body = re.search(r"<body[^>]*>", done.stdout).group(0)
    scroll, right = int(re.search(r'data-scroll="(\d+)"', body).group(1)), int(re.search(r'data-right="(\d+)"',
                                                                                          body).group(1))
    assert scroll <= 1400 and right <= 1400, (scroll, right)
    pruning = done.stdout.split("Concept-specific pruning", 1)[1].split("</table>", 1)[0]
    assert "NaN" not in pruning and "<td class=\"num\">-</td>" in pruning
    png = tmp_path / "pruning.png"
    shot = chromium(index.as_uri(), tmp_path / "profile-shot", f"--screenshot={png}", "--window-size=1400,2600",
                    "--hide-scrollbars")
    assert shot.returncode == 0 and png.stat().st_size > 20_000
    keep = os.environ.get("AUDIODISSECT_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(png, Path(keep) / "screenshot-pruning-1400.png")
