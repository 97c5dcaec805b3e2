"""Annotation app in a real browser (Debian chromium driven by Playwright): log in, vote with the keyboard,
skip with S, see an XSS payload as text. ANNOTATION_APP_SCREENSHOT=1 saves docs/annotation_app.png."""

import os
from pathlib import Path

import pytest
from sqlalchemy import select

from annotation_app.config import AppConfig
from annotation_app.content import add_candidate, build_items, upsert_prompt
from annotation_app.records import load_vote_records
from annotation_app.service import AnnotationService
from annotation_app.storage import Assignment
from annotation_app.testing import REPO_ROOT, start_server, stop_server

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
XSS = "<img src=x onerror=alert(1)><script>alert(1)</script>"
QUESTIONS = [
    (
        {
            "id": "b1",
            "prompt": "Konya'da kuru tarım yapılan buğday tarlamda yabancı ot sorunu var. Ne zaman ve nasıl "
            "ilaçlama yapmalıyım?",
            "crop": "buğday",
            "region": "Konya",
            "season": "ilkbahar",
            "category": "bitki_koruma",
        },
        [
            "Yabancı otlar 2–4 yapraklı, buğday kardeşlenme dönemindeyken ilaçlayın. Ruhsatlı bir herbisiti etiketteki "
            "dozda (ör. dekara 10–20 ml) ve 20–30 litre suyla uygulayın. Rüzgârlı ve yağmur beklenen günlerde "
            "ilaçlama yapmayın; eldiven ve maske kullanın.",
            "Hasattan hemen önce bol miktarda ilaç atarsanız otların hepsi ölür. Ne kadar çok ilaç o kadar iyi sonuç "
            "verir.",
        ],
    ),
    (
        {
            "id": "b2",
            "prompt": f"Deneme sorusu {XSS}",
            "crop": "domates",
            "region": "Antalya",
            "season": "kış",
            "category": "sebze",
        },
        [f"Cevap bir {XSS}", "Cevap iki"],
    ),
]


def test_keyboard_voting_in_a_real_browser(tmp_path):
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():  # a failure, not a skip: a silently skipped browser test hid this from `make test`
        pytest.fail(f"needs Debian chromium at {CHROMIUM}: apt-get install -y chromium (make test does it as root)")

    config = AppConfig(db_url=f"sqlite:///{tmp_path / 'app.db'}", gold_share=0.0, swap_repeat_share=0.0, seed=3)
    service = AnnotationService.from_config(config)
    with service.sessions.begin() as session:
        for row, answers in QUESTIONS:
            prompt = upsert_prompt(session, row)
            for model, answer in zip(("model_x", "model_y"), answers):
                add_candidate(session, prompt, model_name=model, checkpoint="", sample_index=0, text=answer)
        build_items(session, pairs_per_prompt=1)
    service.add_user("ayse", "parola-123")
    process, url = start_server(config, tmp_path)
    dialogs = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            # an agronomist's browser in Turkish: Gradio's login page follows the browser language
            page = browser.new_page(viewport={"width": 1280, "height": 1500}, locale="tr-TR")
            page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
            page.goto(url)
            page.get_by_role("button", name="Giriş yap").wait_for(timeout=30_000)
            assert "Kullanıcı adı" in page.inner_text("body") and "Parola" in page.inner_text("body")
            assert "kullanıcı adınız ve parolanızla girin" in page.inner_text("body")
            page.fill("input[type=text]", "ayse")
            page.fill("input[type=password]", "parola-123")
            page.keyboard.press("Enter")
            page.wait_for_function("document.querySelector('#progress')?.innerText.includes('0 / 2')", timeout=30_000)
            assert "Konya" in page.inner_text("#prompt")
            good, bad = ("a", "b") if "kardeşlenme" in page.inner_text("#answer-a") else ("b", "a")
            for side, criterion, score in (
                (good, "dogruluk", "5"),
                (good, "guvenlik", "5"),
                (bad, "dogruluk", "1"),
                (bad, "guvenlik", "1"),
            ):
                page.locator(f"#rate-{side}-{criterion} label").filter(has_text=score).click()
            page.locator(f"#flags-{bad} label").filter(has_text="Hasat öncesi").click()
            page.locator(f"#severity-{bad} label").filter(has_text="Kritik").click()
            page.locator("h1").click()  # focus out of the radios
            page.keyboard.press("1" if good == "a" else "5")  # "A çok daha iyi" / "B çok daha iyi"
            expected_choice = f"{good}_much_better"
            assert page.locator(f"#choice input[value={expected_choice}]").is_checked()
            screenshot = (
                REPO_ROOT / "docs" / "annotation_app.png"
                if os.environ.get("ANNOTATION_APP_SCREENSHOT")
                else tmp_path / "annotation_app.png"
            )
            page.screenshot(path=str(screenshot), full_page=True)
            page.keyboard.press("Enter")
            page.wait_for_function("document.querySelector('#status').innerText.includes('kaydedildi')")
            page.wait_for_function("document.querySelector('#progress').innerText.includes('1 / 2')")
            # the browser clears the form for the next task: no choice, no ratings or flags, default severity
            page.wait_for_function("document.querySelectorAll('#choice input:checked').length === 0")
            assert page.locator(f"#rate-{good}-dogruluk input:checked, #flags-{bad} input:checked").count() == 0
            assert page.locator(f"#severity-{bad} input[value=medium]").is_checked()

            # the second task carries an XSS payload: shown as text, never run
            assert XSS in page.inner_text("#prompt")
            answers = page.inner_text("#answer-a") + page.inner_text("#answer-b")
            assert XSS in answers
            assert page.locator("#answer-a img, #answer-b img, #prompt img").count() == 0

            # typing "s" in a text box does not skip; S outside it does
            page.get_by_text("Düzeltilmiş cevap ve yorum").click()
            page.locator("#comment textarea").fill("s")
            page.locator("#comment textarea").press("s")
            page.wait_for_timeout(500)
            assert "atlandı" not in page.inner_text("#status")
            page.locator("h1").click()
            page.keyboard.press("S")
            page.wait_for_function("document.querySelector('#status').innerText.includes('atlandı')")
            browser.close()
    finally:
        stop_server(process)
    assert dialogs == []
    with service.sessions() as session:
        (record,) = load_vote_records(session)
        statuses = session.scalars(select(Assignment.status).order_by(Assignment.id)).all()
    assert record.displayed_choice == expected_choice and record.time_spent_ms > 0
    assert len(record.ratings) == 4 and [(f[1], f[2]) for f in record.flags] == [("phi_ignored", "critical")]
    assert record.has_critical_flag(record.dispreferred.id)
    assert statuses == ["done", "skipped"]
