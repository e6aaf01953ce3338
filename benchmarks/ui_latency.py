"""Interaction latency of the dashboard: What-if slider step -> updated chart, in Chromium.

Starts ``streamlit run app.py`` on a free loopback port, opens the What-if page for
``topologies/web_service.yaml`` and for a generated 20-component open network (pasted on
the Model page), and times each ArrowRight on the slider until the chart's marker has
moved and the rerun has finished. Prints the first render, the sweep and the slider
figures (median and worst of ``--moves`` steps).

    .venv/bin/python benchmarks/ui_latency.py [--moves 12]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qmodel_ui import charts  # noqa: E402
from tests.ui.conftest import CHROMIUM, CHROMIUM_FLAGS, STREAMLIT_FLAGS, free_port  # noqa: E402
from tests.ui.test_browser import DONE  # noqa: E402

MARKER = f"""() => {{
  const plot = document.querySelector('.js-plotly-plot');
  const line = plot && (plot.layout.shapes || []).find(s => s.line && s.line.color === '{charts.MARKER}');
  return line ? line.x0 : null;
}}"""


def network(components: int = 20) -> str:
    """An open network of ``components`` queues in tiers of four, each tier spreading its
    traffic over the next (5% leave after each tier)."""
    tiers = [[f"t{t}n{i}" for i in range(4)] for t in range(components // 4)]
    lines = ["name: tiers-20", "time_unit: ms", "arrivals:",
             "  web: {to: {" + ", ".join(f"{n}: 0.25" for n in tiers[0]) + "}, rate: 400/s}",
             "nodes:"]
    for t, tier in enumerate(tiers):
        for i, name in enumerate(tier):
            nxt = ("{" + ", ".join(f"{n}: 0.2375" for n in tiers[t + 1]) + "}"
                   if t + 1 < len(tiers) else "{}")
            lines.append(f"  {name}: {{kind: queue, servers: {2 + i % 3}, "
                         f"service: {4 + 3 * ((t + i) % 4)}ms, next: {nxt}}}")
    return "\n".join(lines) + "\n"


def settle(page, timeout_ms: float = 180_000) -> None:
    page.wait_for_timeout(250)
    page.wait_for_function(DONE, timeout=timeout_ms)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def slider_moves(page, moves: int, server: int) -> tuple[list[float], float]:
    """Seconds from each ArrowRight to the moved marker with the rerun finished, and the
    server's CPU seconds per move."""
    thumb = page.locator("[data-testid=stSlider] input[type=range]").last
    times = []
    cpu = cpu_seconds(server)
    for _ in range(moves):
        before = page.evaluate(MARKER)
        thumb.focus()
        start = time.perf_counter()
        page.keyboard.press("ArrowRight")
        page.wait_for_function(f"() => ({MARKER})() !== {before!r} && ({DONE})()",
                               timeout=60_000, polling="raf")
        times.append(time.perf_counter() - start)
    return times, (cpu_seconds(server) - cpu) / moves


def report(label: str, first: float, moves: tuple[list[float], float]) -> None:
    times, cpu = moves
    print(f"{label}: first render with sweep {first:.2f} s; slider -> updated chart: median "
          f"{statistics.median(times) * 1000:.0f} ms, worst {max(times) * 1000:.0f} ms "
          f"({len(times)} moves); server CPU {cpu * 1000:.0f} ms per move")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=12)
    moves = parser.parse_args().moves
    from playwright.sync_api import sync_playwright

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py",
                               "--server.port", str(port), *STREAMLIT_FLAGS], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            for _ in range(150):
                try:
                    page.goto(f"{url}/whatif")
                    break
                except Exception:
                    time.sleep(0.2)
            start = time.perf_counter()
            settle(page)
            report("web_service (3 components, 6 stations)", time.perf_counter() - start,
                   slider_moves(page, moves, server.pid))

            page.goto(url)
            settle(page)
            page.get_by_role("tab", name="YAML").click()
            page.locator("[data-testid=stTextArea] textarea").first.fill(network())
            page.keyboard.press("Control+Enter")
            settle(page)
            page.get_by_role("button", name="Apply").click()
            settle(page)
            page.locator("[data-testid=stSidebarNav] a", has_text="What-if").click()
            start = time.perf_counter()
            settle(page)
            report("tiers-20 (20 components)", time.perf_counter() - start,
                   slider_moves(page, moves, server.pid))
            browser.close()
    finally:
        server.terminate()
        server.wait(15)
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
