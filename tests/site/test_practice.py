"""Self-rating, FSRS scheduling, mock interviews and the reader's progress file (issue 17).

assets/js/practice.js stores one entry per question anchor in localStorage
("handbook.progress", schema 1) and schedules it with ts-fsrs (vendored, loaded on the first
rating).  Times come from Playwright's clock, so due dates are fixed: with short-term steps
off, FSRS's default weights give a new card 1 day for 不会 (Again), 2 for 模糊 (Hard) and 3 or
more for 会 (Good).
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, UTC
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.site

KEY = "handbook.progress"
T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
PAGE = "disks/raw-disk/"
SEED, F1, F2 = "raw-disk-steps", "raw-disk-steps-f1", "raw-disk-steps-f2"


def _context(browser, when: datetime | None = T0):
    ctx = browser.new_context(timezone_id="UTC", viewport={"width": 1280, "height": 900})
    if when is not None:
        ctx.clock.install(time=when)
    return ctx


def _open(browser, when: datetime | None = T0):
    """A fresh browser profile (empty localStorage) at time `when`: (context, page, page errors)."""
    ctx = _context(browser, when)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    return ctx, page, errors


def _store(page) -> dict:
    raw = page.evaluate(f"localStorage.getItem('{KEY}')")
    return json.loads(raw) if raw else {}


def _widget(page, qid: str):
    """Bring question `qid` into view (a follow-up is opened) and return its rating buttons."""
    page.wait_for_selector(f'[id="{qid}"]', state="attached")
    if page.evaluate(f"document.getElementById('{qid}').tagName") == "DETAILS":
        page.click(f'[id="{qid}"] > summary')
    else:
        page.evaluate(f"document.getElementById('{qid}').scrollIntoView()")
        page.mouse.wheel(0, 80)
    box = page.locator(f'.rate[data-q="{qid}"]')
    box.wait_for(timeout=10000)
    box.scroll_into_view_if_needed()
    return box


def _rate(page, qid: str, rating: str):
    box = _widget(page, qid)
    box.locator(f'button[data-r="{rating}"]').click()
    page.wait_for_selector(f'.rate[data-q="{qid}"] button[data-r="{rating}"][aria-pressed="true"]')


def _pressed(page, qid: str) -> list[str]:
    return page.eval_on_selector_all(f'.rate[data-q="{qid}"] button[aria-pressed="true"]',
                                     "els => els.map(e => e.dataset.r)")


def _data(page) -> dict:
    return page.evaluate("window.HandbookPracticeData")


def test_ts_fsrs_is_pinned_and_served_with_its_licence(site_dir):
    pkg = json.loads((ROOT / "package.json").read_text(encoding="utf-8"))
    lock = json.loads((ROOT / "package-lock.json").read_text(encoding="utf-8"))
    version = pkg["dependencies"]["ts-fsrs"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), "pinned exactly (npm install --save-exact)"
    assert lock["packages"]["node_modules/ts-fsrs"]["version"] == version
    vendor = site_dir / "assets" / "vendor" / "ts-fsrs"
    assert "MIT License" in (vendor / "LICENSE").read_text(encoding="utf-8")
    umd = (vendor / "index.umd.js").read_text(encoding="utf-8")
    assert "global.FSRS" in umd and "import " not in umd.split("\n", 5)[0]   # a classic script (UMD)


def test_nothing_loads_before_the_reader_moves(browser, site_url):
    """A chapter page opens without the practice scripts or any rating element; they come on use."""
    ctx = _context(browser, None)
    requests: list[str] = []
    ctx.on("request", lambda r: requests.append(r.url))
    page = ctx.new_page()
    page.goto(site_url + PAGE, wait_until="load")
    page.wait_for_timeout(300)
    assert page.locator(".rate").count() == 0
    assert [u for u in requests if "practice" in u or "ts-fsrs" in u] == []
    _widget(page, SEED)
    assert any(u.endswith("/assets/js/practice.js") for u in requests)
    assert not any("ts-fsrs" in u for u in requests), "the scheduler loads on the first rating, not before"
    page.locator(f'.rate[data-q="{SEED}"] button[data-r="good"]').click()
    page.wait_for_selector(f'.rate[data-q="{SEED}"] button[data-r="good"][aria-pressed="true"]')
    assert any(u.endswith("/assets/vendor/ts-fsrs/index.umd.js") for u in requests)
    ctx.close()


def test_rating_persists_across_reloads_and_toggles(browser, site_url):
    ctx, page, errors = _open(browser)
    page.goto(site_url + PAGE)
    _rate(page, SEED, "good")
    box = page.locator(f'.rate[data-q="{SEED}"]')
    assert box.get_attribute("role") == "group"
    assert [b.inner_text() for b in box.locator("button").all()] == ["会", "模糊", "不会"]
    # the buttons sit right under the 面试回答 box
    assert page.evaluate(f"document.querySelector('.rate[data-q=\"{SEED}\"]').previousElementSibling"
                         ".matches('.admonition.abstract')")
    # a follow-up: the buttons appear inside it when it is opened; keyboard works
    fbox = _widget(page, F1)
    assert page.evaluate(f"document.getElementById('{F1}').contains(document.querySelector('.rate[data-q=\"{F1}\"]'))")
    fbox.locator('button[data-r="again"]').focus()
    page.keyboard.press("Space")
    page.wait_for_selector(f'.rate[data-q="{F1}"] button[data-r="again"][aria-pressed="true"]')

    store = _store(page)
    assert store["format"] == "storage-interview-handbook-progress" and store["schema"] == 1
    seed, f1 = store["items"][SEED], store["items"][F1]
    assert seed["rating"] == "good" and f1["rating"] == "again"
    assert seed["card"]["reps"] == 1 and seed["log"] == [[seed["at"], "good"]]
    due_seed = datetime.fromisoformat(seed["card"]["due"].replace("Z", "+00:00"))
    due_f1 = datetime.fromisoformat(f1["card"]["due"].replace("Z", "+00:00"))
    assert (due_f1 - T0).days == 1 and (due_seed - T0).days >= 3

    page.reload()
    _widget(page, SEED)
    assert _pressed(page, SEED) == ["good"]
    _widget(page, F1)
    assert _pressed(page, F1) == ["again"]
    assert "明天" in page.inner_text(f'.rate[data-q="{F1}"] .rate-note')

    # the same day: another button replaces the rating, the pressed one again undoes it
    page.locator(f'.rate[data-q="{SEED}"] button[data-r="hard"]').click()
    page.wait_for_selector(f'.rate[data-q="{SEED}"] button[data-r="hard"][aria-pressed="true"]')
    item = _store(page)["items"][SEED]
    assert item["rating"] == "hard" and item["card"]["reps"] == 1 and len(item["log"]) == 1
    page.locator(f'.rate[data-q="{SEED}"] button[data-r="hard"]').click()
    page.wait_for_function(f"!JSON.parse(localStorage.getItem('{KEY}')).items['{SEED}']")
    assert _pressed(page, SEED) == []
    ctx.close()
    assert errors == []


def test_practice_mode_shows_the_buttons_with_the_revealed_answer(browser, site_url):
    ctx, page, _ = _open(browser, None)
    page.goto(site_url + PAGE)
    page.click("#practice-switch")
    page.click(".practice-reveal >> nth=0")
    box = page.locator(f'.rate[data-q="{SEED}"]')
    box.wait_for(timeout=10000)
    assert box.is_visible()
    assert page.evaluate(f"document.querySelector('.rate[data-q=\"{SEED}\"]').closest('.practice-answer.revealed') !== null")
    ctx.close()


def test_due_questions_come_first_in_order_then_new_ones(browser, site_url):
    ctx, page, _ = _open(browser)
    page.goto(site_url + PAGE)
    _rate(page, SEED, "good")     # due in 3+ days
    _rate(page, F1, "again")      # tomorrow
    _rate(page, F2, "hard")       # in 2 days
    items = _store(page)["items"]
    due = {q: datetime.fromisoformat(items[q]["card"]["due"].replace("Z", "+00:00")) for q in (SEED, F1, F2)}
    assert due[F1] < due[F2] < due[SEED]

    page.goto(site_url + "appendix/drill/")
    total = len({q["id"] for q in _data(page)["questions"]})
    assert page.inner_text("#today-counts") == f"今天到期 0 道 · 新题 {total - 3} 道"

    def queue_head(n: int) -> list[str]:
        page.click("#today-start")
        ids = []
        for _ in range(n):
            page.click("#today-card .drill-reveal")
            ids.append(page.get_attribute("#today-card .rate", "data-q"))
            page.click("#today-card .drill-next")
        return ids

    # two days later: the two due ones, the older first, then the first new question in book order
    page.clock.set_fixed_time(T0 + timedelta(days=2, hours=1))
    page.reload()
    assert page.inner_text("#today-counts") == f"今天到期 2 道 · 新题 {total - 3} 道"
    assert queue_head(3) == [F1, F2, "raw-disk-steps-f3"]

    page.clock.set_fixed_time(due[SEED] + timedelta(hours=1))
    page.reload()
    assert page.inner_text("#today-counts") == f"今天到期 3 道 · 新题 {total - 3} 道"
    assert queue_head(4) == [F1, F2, SEED, "raw-disk-steps-f3"]
    ctx.close()


def test_question_index_shows_state_and_chapter_progress(browser, site_url):
    ctx, page, _ = _open(browser)
    page.goto(site_url + PAGE)
    _rate(page, SEED, "good")
    _rate(page, F1, "again")
    page.goto(site_url + "appendix/questions/")
    link = page.locator(f'#question-index a[href$="#{SEED}"]')
    assert "st-good" in link.get_attribute("class")
    assert re.fullmatch(r"会 · \d+ 天后", link.get_attribute("data-st"))
    assert page.locator(f'#question-index a[href$="#{F1}"]').get_attribute("data-st") == "不会 · 明天"
    assert page.locator(f'#question-index a[href$="#{F2}"]').get_attribute("data-st") is None
    chapter = page.locator("#question-index h2.qchapter").first.get_attribute("data-progress")
    assert re.fullmatch(r"会 1 · 模糊 0 · 不会 1 · 未练 \d+", chapter), chapter
    # the next day the 不会 question is due
    page.clock.set_fixed_time(T0 + timedelta(days=1, hours=1))
    page.reload()
    assert page.locator(f'#question-index a[href$="#{F1}"]').get_attribute("data-st") == "不会 · 今天复习"
    assert "今天到期 1" in page.locator("#question-index h2.qchapter").first.get_attribute("data-progress")
    assert page.evaluate("document.getElementsByTagName('*').length") <= 1500
    ctx.close()


def test_export_import_round_trip_and_bad_files_change_nothing(browser, site_url, tmp_path):
    ctx, page, _ = _open(browser)
    page.goto(site_url + PAGE)
    _rate(page, SEED, "good")
    _rate(page, F1, "hard")
    page.goto(site_url + "appendix/drill/")
    assert page.inner_text("#progress-summary") == "已自评 2 道：会 1 · 模糊 1 · 不会 0。"
    with page.expect_download() as dl:
        page.click("#progress-export")
    exported = tmp_path / dl.value.suggested_filename
    dl.value.save_as(exported)
    assert dl.value.suggested_filename == "handbook-progress-2027-03-01.json"
    doc = json.loads(exported.read_text(encoding="utf-8"))
    assert doc["format"] == "storage-interview-handbook-progress" and doc["schema"] == 1
    assert sorted(doc["items"]) == [SEED, F1]
    before = page.evaluate(f"localStorage.getItem('{KEY}')")

    good_card = doc["items"][SEED]["card"]
    bad_files = {
        "not-json.json": ("这不是 JSON", "不是 JSON"),
        "foreign.json": (json.dumps({"deck": "anki", "cards": []}), "不是本书导出的进度文件"),
        "future.json": (json.dumps({**doc, "schema": 99}), "schema 99"),
        "bad-item.json": (json.dumps({**doc, "items": {"x": {"card": good_card, "rating": "maybe",
                                                              "at": "2027-03-01T09:00:00Z"}}}), "rating"),
        "bad-date.json": (json.dumps({**doc, "items": {"x": {"card": {**good_card, "due": "tomorrow"},
                                                              "rating": "good", "at": "2027-03-01T09:00:00Z"}}}),
                          "card.due"),
    }
    for name, (text, why) in bad_files.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        page.evaluate("document.getElementById('progress-msg').textContent = ''")
        page.set_input_files("#progress-file", str(path))
        page.wait_for_function("document.getElementById('progress-msg').textContent !== ''")
        msg = page.inner_text("#progress-msg")
        assert why in msg and "进度没有改动" in msg, (name, msg)
        assert "bad" in page.get_attribute("#progress-msg", "class")
        assert page.evaluate(f"localStorage.getItem('{KEY}')") == before, name

    # reset asks first: no changes nothing, yes empties
    page.once("dialog", lambda d: d.dismiss())
    page.click("#progress-reset")
    assert page.inner_text("#progress-msg") == "没有清空。"
    assert page.evaluate(f"localStorage.getItem('{KEY}')") == before
    page.once("dialog", lambda d: d.accept())
    page.click("#progress-reset")
    assert page.inner_text("#progress-msg") == "已清空。"
    assert _store(page)["items"] == {}
    assert page.inner_text("#progress-summary") == "还没有自评记录。"

    page.set_input_files("#progress-file", str(exported))
    page.wait_for_function("document.getElementById('progress-msg').textContent.startsWith('已导入')")
    assert page.inner_text("#progress-msg").startswith("已导入：新增 2 道，更新 0 道")
    assert _store(page)["items"] == doc["items"]
    page.goto(site_url + PAGE)
    _widget(page, F1)
    assert _pressed(page, F1) == ["hard"]
    ctx.close()


def test_mock_interview_flow(browser, site_url):
    ctx, page, errors = _open(browser)
    page.goto(site_url + "appendix/drill/")
    data = {q["id"]: q for q in _data(page)["questions"]}
    for box in page.locator("input[name=mock-chapter]").all():
        box.set_checked(box.get_attribute("value") == "虚拟化")
    page.fill("#mock-total", "4")
    page.fill("#mock-follow", "2")
    page.fill("#mock-seconds", "60")
    page.clock.pause_at(T0 + timedelta(minutes=1))
    page.click("#mock-start")
    assert page.is_hidden("#mock-form")

    seen, labels = [], []
    plan = ["hard", "again", "good", None]
    for i, rating in enumerate(plan):
        pos = page.inner_text("#mock-stage .mock-pos")
        assert pos.startswith(f"第 {i + 1} / 4 题")
        labels.append(pos.rsplit(" · ", 1)[1])
        assert page.inner_text("#mock-stage .mock-timer") == "1:00"
        if i == 1:
            page.clock.run_for(65_000)
            assert page.inner_text("#mock-stage .mock-timer") == "超时 0:05"
            assert "over" in page.get_attribute("#mock-stage .mock-timer", "class")
        else:
            page.clock.run_for(5_000)
            assert page.inner_text("#mock-stage .mock-timer") == "0:55"
        page.click("#mock-stage .drill-reveal")
        page.wait_for_selector("#mock-stage .drill-answer")
        assert page.inner_text("#mock-stage .drill-answer").strip()
        assert page.inner_text("#mock-stage .mock-timer") == ("用时 1:05" if i == 1 else "用时 0:05")
        qid = page.get_attribute("#mock-stage .rate", "data-q")
        seen.append(qid)
        assert data[qid]["chapter"] == "虚拟化"
        if rating:
            page.click(f'#mock-stage .rate button[data-r="{rating}"]')
            page.wait_for_selector(f'#mock-stage .rate button[data-r="{rating}"][aria-pressed="true"]')
        page.click("#mock-stage .mock-next")

    # 4 questions: 2 seed questions and 2 follow-ups, each follow-up after its own question when
    # that was asked (the chapter has enough of both)
    assert sorted(labels) == ["原题", "原题", "追问", "追问"] and len(set(seen)) == 4
    assert [data[q]["seed"] for q in seen] == [lab == "原题" for lab in labels]
    for i, qid in enumerate(seen):
        parent = data[qid].get("parent")
        if parent in seen:
            assert seen.index(parent) < i
    summary = page.inner_text("#mock-stage .mock-summary")
    assert summary.startswith("共 4 题：会 1 · 模糊 1 · 不会 1 · 未自评 1 · 总用时 1:20")
    weak = page.eval_on_selector_all("#mock-stage .mock-weak a", "els => els.map(e => e.href)")
    assert [h.rsplit("#", 1)[1] for h in weak] == [seen[0], seen[1], seen[3]]
    assert page.is_visible("#mock-form")
    page.goto(weak[1])
    assert page.locator(f'[id="{seen[1]}"]').count() == 1
    ctx.close()
    assert errors == []


def test_a_moved_question_keeps_its_history(browser, site_dir, site_url):
    """kvm-f3 (a follow-up on virtualization/) moved to host-tuning as #hugepages-numa."""
    anchors = (ROOT / "tests" / "site" / "anchors.txt").read_text(encoding="utf-8").split()
    assert "virtualization/#kvm-f3" in anchors
    stub = (site_dir / "virtualization" / "index.html").read_text(encoding="utf-8")
    assert re.search(r'<a class="moved" href="host-tuning/#hugepages-numa" id="kvm-f3">', stub)
    moved = json.loads((site_dir / "assets" / "questions.json").read_text(encoding="utf-8"))
    assert {"id": "kvm-f3", "to": "hugepages-numa", "url": "virtualization/host-tuning/"} in \
        next(p for p in moved if p["url"] == "virtualization/")["moved"]

    ctx, page, _ = _open(browser)
    page.goto(site_url)
    old = {"card": {"due": "2027-02-27T09:00:00.000Z", "stability": 0.2, "difficulty": 6.4, "elapsed_days": 0,
                    "scheduled_days": 1, "reps": 1, "lapses": 0, "learning_steps": 0, "state": 2,
                    "last_review": "2027-02-26T09:00:00.000Z"},
           "rating": "again", "at": "2027-02-26T09:00:00.000Z", "prev": None,
           "log": [["2027-02-26T09:00:00.000Z", "again"]]}
    store = {"format": "storage-interview-handbook-progress", "schema": 1, "items": {"kvm-f3": old}}
    page.evaluate("([k, v]) => localStorage.setItem(k, v)", [KEY, json.dumps(store)])
    page.goto(site_url + "virtualization/host-tuning/")
    _widget(page, "hugepages-numa")
    assert _pressed(page, "hugepages-numa") == ["again"]
    assert "今天该复习了" in page.inner_text('.rate[data-q="hugepages-numa"] .rate-note')
    items = _store(page)["items"]
    assert "kvm-f3" not in items and items["hugepages-numa"]["log"] == old["log"]
    # and the next review builds on that history
    page.locator('.rate[data-q="hugepages-numa"] button[data-r="good"]').click()
    page.wait_for_selector('.rate[data-q="hugepages-numa"] button[data-r="good"][aria-pressed="true"]')
    item = _store(page)["items"]["hugepages-numa"]
    assert item["card"]["reps"] == 2 and [r for _, r in item["log"]] == ["again", "good"]
    assert item["prev"]["rating"] == "again"
    ctx.close()


def test_practice_works_in_the_offline_zip_from_file_urls(browser, offline_zip):
    ctx = _context(browser)
    requests: list[str] = []
    errors: list[str] = []
    ctx.on("request", lambda r: requests.append(r.url))
    page = ctx.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto((offline_zip / "disks" / "raw-disk.html").as_uri())
    _rate(page, SEED, "again")
    page.reload()
    _widget(page, SEED)
    assert _pressed(page, SEED) == ["again"]

    page.goto((offline_zip / "appendix" / "drill.html").as_uri())
    total = len({q["id"] for q in _data(page)["questions"]})
    assert page.inner_text("#today-counts") == f"今天到期 0 道 · 新题 {total - 1} 道"
    page.click("#today-start")
    page.click("#today-card .drill-reveal")
    page.wait_for_selector("#today-card .drill-answer")
    assert page.inner_text("#today-card .drill-answer").strip()
    href = page.get_attribute("#today-card a.md-button", "href")
    assert href.startswith("file://") and "disks/raw-disk.html#" in href
    with page.expect_download() as dl:
        page.click("#progress-export")
    assert SEED in json.loads(Path(dl.value.path()).read_text(encoding="utf-8"))["items"]

    page.goto((offline_zip / "appendix" / "questions.html").as_uri())
    assert page.locator(f'#question-index a[href$="#{SEED}"]').get_attribute("data-st") == "不会 · 明天"
    ctx.close()
    assert errors == []
    assert [u for u in requests if not u.startswith(("file://", "data:", "blob:", "about:"))] == []
