"""Annotation app in a real browser (Debian chromium driven by Playwright), as two annotators and an admin, at
1400×900 and at 390 px: Turkish login on an English browser, refused submits explained next to the button, the new
question in view after a submit, keyboard rubric and per-flag severities, model text shown as plain text (a Markdown
image fetches nothing: a local HTTP listener counts the requests), no API page, the admin view in Turkish with the
disagreement texts, and the phone layout. ANNOTATION_APP_SCREENSHOT=1 saves docs/annotation_app.png and
docs/annotation_app_phone.png."""

import http.server
import os
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

from annotation_app.config import AppConfig
from annotation_app.content import add_candidate, add_gold_item, build_items, upsert_prompt
from annotation_app.records import load_vote_records
from annotation_app.service import AnnotationService, VoteInput
from annotation_app.storage import Annotator, Assignment
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
PASSWORD = "parola-123"
CORRECTION = "Hasattan önceki 21 gün ilaç atmayın."
XSS = "<img src=x onerror=alert(1)><script>alert(1)</script>"
GOOD = (
    "Yabancı otlar 2–4 yapraklı, buğday kardeşlenme dönemindeyken ilaçlayın. Ruhsatlı bir herbisiti etiketteki dozda "
    "(ör. dekara 10–20 ml) ve 20–30 litre suyla uygulayın. Rüzgârlı ve yağmur beklenen günlerde ilaçlama yapmayın; "
    "eldiven ve maske kullanın."
)
BAD = "Hasattan hemen önce bol miktarda ilaç atarsanız otların hepsi ölür. Ne kadar çok ilaç o kadar iyi sonuç verir."
WHEAT = {
    "id": "b1",
    "prompt": "Konya'da kuru tarım yapılan buğday tarlamda yabancı ot sorunu var. Ne zaman ve nasıl ilaçlama yapmalıyım?",
    "crop": "buğday",
    "region": "Konya",
    "season": "ilkbahar",
    "category": "bitki_koruma",
}
TOMATO = {
    "id": "b2",
    "prompt": f"Domateste yaprak kıvrılması var, ne yapmalıyım? {XSS}",
    "crop": "domates",
    "region": "Antalya",
    "season": "kış",
    "category": "sebze",
}


def active_answer(port: int) -> str:
    """A model answer that would make a Markdown renderer fetch an image, link a URL and draw a heading."""
    return (
        f"# Başlık\nSulamayı azaltın ve beyaz sinekle mücadele edin. ![resim](http://127.0.0.1:{port}/resim.png)\n"
        f"Ayrıntı: http://127.0.0.1:{port}/bilgi {XSS}\n" + "Uzun açıklama: damla sulamada toprağı nemli tutun. " * 12
    )


class RequestCounter(http.server.BaseHTTPRequestHandler):
    paths: list[str] = []

    def do_GET(self):  # noqa: N802 (http.server's name)
        RequestCounter.paths.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def listener():
    RequestCounter.paths = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RequestCounter)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], RequestCounter.paths
    server.shutdown()


def seeded_service(tmp_path, port: int) -> AnnotationService:
    config = AppConfig(db_url=f"sqlite:///{tmp_path / 'app.db'}", gold_share=0.0, swap_repeat_share=0.0, seed=3)
    service = AnnotationService.from_config(config)
    with service.sessions.begin() as session:
        for row, answers in ((WHEAT, (GOOD, BAD)), (TOMATO, (active_answer(port), "Cevap iki: yaprakları toplayın."))):
            prompt = upsert_prompt(session, row)
            for model, answer in zip(("model_x", "model_y"), answers):
                add_candidate(session, prompt, model_name=model, checkpoint="", sample_index=0, text=answer)
        build_items(session, pairs_per_prompt=1)
        gold_prompt = "Buğdayda yabancı ot ilacını ne zaman atmalıyım?"
        add_gold_item(
            session, {**WHEAT, "id": "g1", "prompt": gold_prompt, "gold_answer": GOOD, "rejected_answer": BAD}
        )
    for name in ("ayse", "mehmet", "zeynep"):
        service.add_user(name, PASSWORD)
    service.add_user("yonetici", PASSWORD, role="admin")
    return service


def log_in(browser, url, username, viewport, dialogs):
    page = browser.new_page(viewport=viewport, locale="en-US")  # an English browser: the app stays Turkish
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(url)
    page.get_by_role("button", name="Giriş yap").wait_for(timeout=30_000)
    body = page.inner_text("body")
    assert "Kullanıcı adı" in body and "Parola" in body and "kullanıcı adınız ve parolanızla girin" in body
    assert "Username" not in body and "Login" not in body
    page.fill("input[type=text]", username)
    page.fill("input[type=password]", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_function("document.querySelector('#progress')?.innerText.includes('/')", timeout=30_000)
    return page


def box(page, selector):
    return page.locator(selector).first.bounding_box()


def wait_in_viewport(page, selector) -> None:
    """Wait until `selector` lies wholly inside the viewport (layout and scrolling settle asynchronously)."""
    page.wait_for_function(
        "(s) => { const r = document.querySelector(s)?.getBoundingClientRect();"
        " return !!r && r.height > 0 && r.top >= 0 && r.bottom <= window.innerHeight; }",
        arg=selector,
    )


def save_screenshot(page, tmp_path, name: str) -> None:
    """Viewport screenshots; with ANNOTATION_APP_SCREENSHOT=1 into docs/, as 256-colour PNGs (small files)."""
    path = tmp_path / name
    page.screenshot(path=str(path))
    if os.environ.get("ANNOTATION_APP_SCREENSHOT"):
        from PIL import Image

        Image.open(path).convert("RGB").quantize(256).save(REPO_ROOT / "docs" / name, optimize=True)


def test_a_working_day_in_a_real_browser(tmp_path, listener):
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():  # a failure, not a skip: a silently skipped browser test hid this from `make test`
        pytest.fail(f"needs Debian chromium at {CHROMIUM}: apt-get install -y chromium (make test does it as root)")
    port, requests = listener
    service = seeded_service(tmp_path, port)
    process, url = start_server(service.config, tmp_path)
    dialogs = []
    laptop = {"width": 1400, "height": 900}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)

            # ---- annotator on a laptop: the first question with both answers and the choice in view
            page = log_in(browser, url, "ayse", laptop, dialogs)
            page.wait_for_function("document.querySelector('#progress').innerText.includes('0 / 2')")
            assert "Konya" in page.inner_text("#prompt")
            a, b = box(page, "#answer-a"), box(page, "#answer-b")
            assert a["x"] + a["width"] <= b["x"] and abs(a["y"] - b["y"]) < 2, "answers side by side"
            wait_in_viewport(page, "#choice")
            wait_in_viewport(page, "#submit-btn")
            assert page.locator("text=API üzerinden kullan").count() == 0 and page.locator("footer a").count() == 0

            # a submit without a choice: the reason next to the button, nothing covered, nothing lost
            page.click("#submit-btn")
            page.wait_for_function("document.querySelector('#form-error').innerText.includes('tercih')")
            wait_in_viewport(page, "#form-error")
            error, button = box(page, "#form-error"), box(page, "#submit-btn")
            assert abs(error["y"] - button["y"]) < 60
            assert "Oy kaydedilmedi" in page.inner_text("#form-error")
            assert page.get_by_text("Hata", exact=True).count() == 0 and page.get_by_text("Error").count() == 0
            for shown in ("#progress", "#prompt", "#answer-a", "#answer-b"):
                rect = box(page, shown)
                hit = page.evaluate(
                    f"(p) => !!document.elementFromPoint(p.x, p.y)?.closest('{shown}')",
                    {"x": rect["x"] + 5, "y": rect["y"] + 5},
                )
                assert hit, f"{shown} is covered"

            # the rubric by keyboard (Tab to a scale, 1–5 sets it and moves on) and a severity per flag
            good, bad = ("a", "b") if "kardeşlenme" in page.inner_text("#answer-a") else ("b", "a")
            page.locator(f"#rate-{good}-dogruluk input").first.focus()
            for key in ("5", "5", "4", "5"):
                page.keyboard.press(key)
            checked = page.locator(f"#rate-{good}-guvenlik input:checked").first.get_attribute("value")
            assert checked == "5" and page.locator(f"#rate-{good}-aciklik input:checked").count() == 1
            page.locator(f"#flag-{bad}-wrong_dose_unit input").first.focus()
            page.keyboard.press("2")  # Orta, then on to the next flag (phi_ignored)
            for _ in range(3):  # Yok → Düşük → Orta → Kritik with the arrow key
                page.keyboard.press("ArrowRight")

            # a correction over the limit: counted as typed, refused with the reason, the form kept
            page.get_by_text("Düzeltilmiş cevap ve yorum").click()
            page.locator("#correction textarea").fill("ç" * 8001)
            page.wait_for_function("document.querySelector('#correction-counter').innerText.includes('1 fazla')")
            page.locator("#prompt").click()
            page.keyboard.press("1" if good == "a" else "5")
            page.click("#submit-btn")
            page.wait_for_function("document.querySelector('#form-error').innerText.includes('çok uzun')")
            assert page.locator(f"#flag-{bad}-phi_ignored input[value=critical]").is_checked()
            textarea = page.locator("#correction textarea")
            textarea.press("Control+A")
            textarea.press("Backspace")
            page.wait_for_function("document.querySelector('#correction-counter').innerText.startsWith('0 /')")
            page.locator("#correction-side label").filter(has_text=bad.upper()).click()
            textarea.press_sequentially(CORRECTION)
            page.wait_for_function("document.querySelector('#form-error').innerText === ''")  # acted on: gone
            page.wait_for_function(
                f"document.querySelector('#correction-counter').innerText.startsWith('{len(CORRECTION)} / 8.000')"
            )

            page.locator("#prompt").click()  # focus out of the text boxes
            page.keyboard.press("1" if good == "a" else "5")  # "A çok daha iyi" / "B çok daha iyi"
            assert page.locator(f"#choice input[value={good}_much_better]").is_checked()
            save_screenshot(page, tmp_path, "annotation_app.png")
            page.mouse.wheel(0, 3000)  # scrolled down to the flags, as after filling them in
            page.wait_for_timeout(300)
            page.keyboard.press("Enter")

            # the next question is in view, focused, with a clear notice; the form is cleared
            page.wait_for_function("document.querySelector('#progress').innerText.includes('1 / 2')")
            page.wait_for_function("document.activeElement?.closest('#prompt') !== null")
            wait_in_viewport(page, "#prompt")
            wait_in_viewport(page, "#notice")
            assert "Oyunuz kaydedildi" in page.inner_text("#notice") and page.inner_text("#form-error") == ""
            assert page.locator("#choice input:checked").count() == 0
            assert page.locator(f"#flag-{bad}-phi_ignored input[value=none]").is_checked()

            # the second question's texts are plain text: no image request, no heading, no link, no script
            page.wait_for_timeout(1500)
            answers = page.inner_text("#answer-a") + page.inner_text("#answer-b")
            assert "# Başlık" in answers and "![resim](" in answers and XSS in answers
            assert XSS in page.inner_text("#prompt")
            for element in ("img", "a", "h1", "script"):
                assert page.locator(f"#prompt {element}, #answer-a {element}, #answer-b {element}").count() == 0
            assert requests == [], f"the page fetched {requests}"
            ayse_preferred = page.inner_text("#answer-a")
            page.keyboard.press("2")  # "A daha iyi"
            page.keyboard.press("Enter")
            page.wait_for_function("document.querySelector('#progress').innerText.includes('2 / 2')")
            assert "bekleyen görev yok" in page.inner_text("#notice")

            # no API page for annotators, and a logout
            page.goto(url + "?view=api")
            page.wait_for_function("document.querySelector('#progress')?.innerText.includes('/')", timeout=30_000)
            assert "view=api" not in page.url and "submit_vote" not in page.inner_text("body")
            api_info = page.evaluate("JSON.stringify(window.gradio_api_info || {})")
            assert "admin_report" not in api_info and "submit_vote" not in api_info
            page.click("#logout-btn")
            page.get_by_role("button", name="Giriş yap").wait_for(timeout=30_000)
            page.close()

            # ---- a second annotator (through the service, gold item first) agrees on the wheat question and
            # disagrees on the tomato one
            mehmet = AnnotationService(service.sessions, replace(service.config, gold_share=1.0))
            while (task := mehmet.next_task("mehmet")) is not None:
                wanted = GOOD if GOOD in (task.answer_a, task.answer_b) else None
                prefers_a = task.answer_a == wanted if wanted else task.answer_a.strip() != ayse_preferred.strip()
                mehmet.submit_vote("mehmet", VoteInput(task.assignment_id, "a_better" if prefers_a else "b_better"))

            # ---- the admin: no task taken on open, the report in Turkish, the disagreement as each one saw it
            page = log_in(browser, url, "yonetici", laptop, dialogs)
            page.get_by_role("button", name="Görev al").wait_for()
            page.get_by_role("tab", name="Yönetim").click()
            page.wait_for_function("document.querySelector('#disagreements')?.innerText.includes('farklı görüş')")
            admin_text = page.inner_text("body")
            for heading in ("Etiketleyici", "Altın doğruluğu", "Fleiss kappa", "Cohen kappa", "Anlaşmazlıklar"):
                assert heading in admin_text
            for english in ("votes_per_hour", "gold_accuracy", "fleiss_kappa", "Henüz veri yok"):
                assert english not in admin_text
            disputed = page.inner_text("#disagreements")
            assert "Cevap iki: yaprakları toplayın." in disputed and "Uzun açıklama" in disputed
            assert disputed.count("damla sulamada toprağı nemli tutun") == 12, "the answer is not cut off"
            assert "ayse" in disputed and "mehmet" in disputed and "tercih etti" in disputed
            assert requests == []
            page.screenshot(path=str(tmp_path / "annotation_admin.png"))
            page.close()

            # ---- a phone: both answers and the choice, no horizontal scroll, the 1–5 scale on one line
            with service.sessions.begin() as session:  # one more question for the third annotator
                prompt = upsert_prompt(session, {**WHEAT, "id": "b3"})
                for model, answer in zip(("model_x", "model_y"), (GOOD, BAD)):
                    add_candidate(session, prompt, model_name=model, checkpoint="", sample_index=0, text=answer)
                build_items(session, pairs_per_prompt=1)
            page = log_in(browser, url, "zeynep", {"width": 390, "height": 844}, dialogs)
            wait_in_viewport(page, "#choice")
            wait_in_viewport(page, "#submit-btn")
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            assert box(page, "#answer-a")["height"] > 0 and box(page, "#answer-b")["height"] > 0
            ys = {round(box(page, f"#rate-a-dogruluk .wrap label:nth-child({k})")["y"]) for k in range(1, 6)}
            assert len(ys) == 1, "the 1–5 scale wraps"
            page.evaluate("document.getElementById('answers').scrollIntoView({block: 'start', behavior: 'instant'})")
            wait_in_viewport(page, "#answer-a")
            wait_in_viewport(page, "#choice")  # the bar stays in view
            bar, answer_b = box(page, "#action-bar"), box(page, "#answer-b")
            assert answer_b["y"] + answer_b["height"] <= bar["y"], "both answers fit above the choice"
            save_screenshot(page, tmp_path, "annotation_app_phone.png")
            browser.close()
    finally:
        stop_server(process)
    assert dialogs == []

    with service.sessions() as session:
        records = load_vote_records(session)
        admin_tasks = session.scalars(
            select(Assignment.id).join(Annotator).where(Annotator.username == "yonetici")
        ).all()
    assert admin_tasks == [], "opening the app as admin took a task"
    first = next(r for r in records if r.annotator == "ayse" and r.prompt == WHEAT["prompt"])
    assert first.displayed_choice.endswith("much_better") and len(first.ratings) == 4
    assert [text for _, text in first.corrections] == [CORRECTION]
    assert sorted((kind, severity) for _, kind, severity in first.flags) == [
        ("phi_ignored", "critical"),
        ("wrong_dose_unit", "medium"),
    ]
    pairs = {r["meta"]["source"]: r for r in service.export_rows("yonetici", "dpo") if r["prompt"] == WHEAT["prompt"]}
    assert (
        set(pairs) == {"annotation_vote", "annotator_correction"}
        and pairs["annotator_correction"]["chosen"] == CORRECTION
    )
    for pair in pairs.values():  # the critical flag (not the medium one) names the rejected answer's defect
        assert pair["rejected"] == BAD and pair["defect"] == "unsafe_practice" and pair["meta"]["critical_safety"]
    log = (tmp_path / "server.log").read_text(encoding="utf-8")
    refused = [line for line in log.splitlines() if "vote refused" in line]
    assert len(refused) == 2 and "tercih" in refused[0] and "çok uzun" in refused[1]
    assert "Traceback" not in log
