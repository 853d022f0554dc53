"""``index.html`` of every mechanism's results folder: its summary table, every figure linked,
and, in headless Chromium, every image loaded (naturalWidth > 0)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ptn.coordinator.results.index_page import write_index_page
from ptn.coordinator.results.joint_coordination import write_results_folder
from ptn.coordinator.results.pricing_game import write_game_folder
from ptn.coordinator.results.profit_sharing import write_profit_sharing_folder
from ptn.engines.errors import InvalidInputError
from tests.results.browser import image_states, require_browser
from tests.results.synthetic import synthetic_game, synthetic_outcome, synthetic_sharing


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("results")
    write_results_folder(synthetic_outcome(), root / "joint")
    write_game_folder(synthetic_game(), root / "game", tolerance=0.005)
    write_profit_sharing_folder(synthetic_sharing(), root / "sharing")
    return {name: root / name for name in ("joint", "game", "sharing")}


def test_every_image_loads_in_a_headless_browser(folders: dict[str, Path],
                                                 tmp_path: Path) -> None:
    """Each mechanism's page shows every PNG of its folder, loaded; a copy of a folder with a
    figure deleted after the page was written shows that one not loaded (the check can fail)."""
    require_browser()
    broken = tmp_path / "broken"
    shutil.copytree(folders["joint"], broken)
    (broken / "prices.png").unlink()
    pages = [folders[name] / "index.html" for name in ("joint", "game", "sharing")]
    *states_by_page, broken_states = image_states(*pages, broken / "index.html")
    for page, states in zip(pages, states_by_page, strict=True):
        folder = page.parent
        on_disk = sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*.png"))
        assert sorted(state["src"] for state in states) == on_disk
        assert len(on_disk) >= 3
        assert all(state["complete"] and state["width"] > 0 for state in states), (page, states)
    widths = {state["src"]: state["width"] for state in broken_states}
    assert widths["prices.png"] == 0
    assert widths["convergence.png"] > 0


def test_summary_table_holds_the_summary(folders: dict[str, Path]) -> None:
    page = (folders["joint"] / "index.html").read_text(encoding="utf-8")
    summary = json.loads((folders["joint"] / "summary.json").read_text(encoding="utf-8"))
    assert "<script" not in page and "http" not in page  # no JS, nothing online
    assert "<title>neg-42 — admm</title>" in page
    # nested keys are dotted; numbers formatted with separators
    assert "<th>agreed.by_operator.tno</th><td class=\"number\">700</td>" in page
    assert f"<th>gap_to_centralized</th><td class=\"number\">{summary['gap_to_centralized']:,.6g}" \
        in page
    assert "<th>stations</th><td>cs1, cs2</td>" in page
    # each known figure says what it shows, with its unit
    assert "<b>cost_comparison.png</b> — cost over the horizon ($)" in page
    # the game's claims (a list of records) are a table of their own
    game = (folders["game"] / "index.html").read_text(encoding="utf-8")
    assert "<h3>claims</h3>" in game and "<th>verdict</th>" in game
    for link in ("rounds.csv", "summary.json", "comparison.md"):
        assert f'href="{link}"' in game


def test_figures_of_sub_folders_and_odd_names_are_linked(tmp_path: Path) -> None:
    (tmp_path / "operators" / "dso 1").mkdir(parents=True)
    shutil.copy(Path(__file__).with_name("tiny.png"), tmp_path / "operators" / "dso 1" / "v.png")
    page = write_index_page(tmp_path, title="a <b> title").read_text(encoding="utf-8")
    assert 'src="operators/dso%201/v.png"' in page
    assert "a &lt;b&gt; title" in page and "No summary.json" in page


def test_a_summary_that_is_not_an_object_is_refused(tmp_path: Path) -> None:
    (tmp_path / "summary.json").write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(InvalidInputError, match=r"summary\.json: expected a JSON object"):
        write_index_page(tmp_path)
    with pytest.raises(InvalidInputError, match="no such directory"):
        write_index_page(tmp_path / "absent")
