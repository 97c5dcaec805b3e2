"""Gradio UI (Turkish). Only presentation: every handler calls the service with `request.username`."""

from __future__ import annotations

import html
import tempfile
from pathlib import Path

import gradio as gr
import pandas as pd

from annotation_app.export import FORMATS, write_rows
from annotation_app.service import AnnotationService, Screen, ValidationError, VoteInput
from annotation_app.storage import CRITERIA, FLAG_TYPES

GUIDELINES = (Path(__file__).parent / "guidelines_tr.md").read_text(encoding="utf-8")
CHOICE_LABELS = [
    ("A çok daha iyi", "a_much_better"),
    ("A daha iyi", "a_better"),
    ("Eşit", "tie"),
    ("B daha iyi", "b_better"),
    ("B çok daha iyi", "b_much_better"),
    ("İkisi de kötü", "both_bad"),
]
CRITERION_LABELS = {
    "dogruluk": "Doğruluk",
    "guvenlik": "Güvenlik",
    "uygulanabilirlik": "Uygulanabilirlik",
    "aciklik": "Açıklık/Türkçe",
}
FLAG_LABELS = {
    "wrong_dose_unit": "Yanlış doz/birim",
    "phi_ignored": "Hasat öncesi bekleme süresine uyulmamış",
    "banned_ingredient": "Yasaklı/ruhsatsız etken madde",
    "wrong_region_season": "Bölge/sezon uygun değil",
    "dangerous_practice": "Tehlikeli uygulama",
}
SEVERITY_LABELS = [("Düşük", "low"), ("Orta", "medium"), ("Kritik", "critical")]
NO_TASK = "Şu an için bekleyen görev yok. Teşekkürler!"

# 1–6 choose, Enter submits, S skips; ignored while typing in a text field.
KEYBOARD_JS = """
() => {
  const typing = (el) => el && (el.tagName === "TEXTAREA" || el.isContentEditable ||
    (el.tagName === "INPUT" && !["radio", "checkbox"].includes(el.type)));
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    if (event.key >= "1" && event.key <= "6") {
      const option = document.querySelectorAll("#choice input[type=radio]")[Number(event.key) - 1];
      if (option) { option.click(); event.preventDefault(); }
    } else if (event.key === "Enter" && event.target.tagName !== "BUTTON") {
      document.querySelector("#submit-btn")?.click(); event.preventDefault();
    } else if (event.key === "s" || event.key === "S") {
      document.querySelector("#skip-btn")?.click(); event.preventDefault();
    }
  });
}
"""

# Values for `form` after a submit or skip: choice and the 8 ratings empty, no flags, default severity, side A.
RESET_FORM_JS = "() => [null, null, null, null, null, null, null, null, null, [], 'medium', [], 'medium', 'A', '', '']"


def as_text_markdown(text: str) -> str:
    """Model output shown as text: HTML is escaped so tags appear literally and never run."""
    return html.escape(text or "", quote=False)


def _user(request: gr.Request) -> str:
    if request is None or not request.username:
        raise gr.Error("Oturum açmanız gerekiyor.")
    return request.username


def _call(fn, *args):
    """Run a service call, turning its errors into messages shown to the user."""
    try:
        return fn(*args)
    except ValidationError as error:
        raise gr.Error(str(error)) from None
    except PermissionError as error:
        raise gr.Error(f"Yetkiniz yok: {error}") from None


def _screen_outputs(screen: Screen, status: str = "") -> tuple:
    task, progress = screen.task, screen.progress
    progress_text = f"İlerleme: **{progress.done} / {progress.total}**"
    if task is None:
        return None, NO_TASK, "", "", "", progress_text, status
    meta = (
        f"**Ürün:** {html.escape(task.crop or '—')} · **Bölge:** {html.escape(task.region or '—')} · "
        f"**Mevsim:** {html.escape(task.season or '—')}"
    )
    return (
        task.assignment_id,
        as_text_markdown(task.prompt),
        meta,
        as_text_markdown(task.answer_a),
        as_text_markdown(task.answer_b),
        progress_text,
        status,
    )


def _vote_input(
    assignment_id,
    choice,
    ratings_a,
    ratings_b,
    flags_a,
    severity_a,
    flags_b,
    severity_b,
    correction_side,
    correction,
    comment,
) -> VoteInput:
    if assignment_id is None:
        raise gr.Error(NO_TASK)
    ratings = {
        side: {c: int(v) for c, v in zip(CRITERIA, values) if v not in (None, "")}
        for side, values in (("A", ratings_a), ("B", ratings_b))
    }
    flags = {
        side: {f: severity or "medium" for f in (checked or [])}
        for side, checked, severity in (("A", flags_a, severity_a), ("B", flags_b, severity_b))
    }
    corrections = {correction_side or "A": correction} if (correction or "").strip() else {}
    return VoteInput(
        assignment_id=int(assignment_id),
        choice=choice or "",
        ratings=ratings,
        flags=flags,
        corrections=corrections,
        comment=comment or "",
    )


def _frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows) if rows else pd.DataFrame({"bilgi": ["Henüz veri yok"]})


def _answer_column(side: str):
    gr.Markdown(f"### Cevap {side}")
    answer = gr.Markdown(elem_id=f"answer-{side.lower()}", latex_delimiters=[], container=True)
    ratings = [
        gr.Radio([1, 2, 3, 4, 5], label=f"{CRITERION_LABELS[c]} ({side})", elem_id=f"rate-{side.lower()}-{c}")
        for c in CRITERIA
    ]
    flags = gr.CheckboxGroup(
        [(FLAG_LABELS[f], f) for f in FLAG_TYPES],
        label=f"Güvenlik işaretleri ({side})",
        elem_id=f"flags-{side.lower()}",
    )
    severity = gr.Radio(
        SEVERITY_LABELS, value="medium", label=f"Önem derecesi ({side})", elem_id=f"severity-{side.lower()}"
    )
    return answer, ratings, flags, severity


def build_ui(service: AnnotationService) -> gr.Blocks:
    with gr.Blocks(title="Tarım RLHF — Etiketleme", analytics_enabled=False) as demo:
        gr.Markdown("# Tarım RLHF — Cevap karşılaştırma")
        with gr.Tabs():
            with gr.Tab("Etiketleme"):
                progress = gr.Markdown(elem_id="progress")
                assignment_id = gr.Number(visible=False, precision=0, label="Görev")
                gr.Markdown("### Soru")
                prompt = gr.Markdown(elem_id="prompt", latex_delimiters=[])
                meta = gr.Markdown(elem_id="meta")
                with gr.Row(equal_height=False):
                    with gr.Column():
                        answer_a, ratings_a, flags_a, severity_a = _answer_column("A")
                    with gr.Column():
                        answer_b, ratings_b, flags_b, severity_b = _answer_column("B")
                choice = gr.Radio(CHOICE_LABELS, label="Hangi cevap daha iyi? (1–6)", elem_id="choice")
                with gr.Accordion("Düzeltilmiş cevap ve yorum (isteğe bağlı)", open=False):
                    correction_side = gr.Radio([("A", "A"), ("B", "B")], value="A", label="Düzeltilen cevap")
                    correction = gr.Textbox(lines=5, label="Düzeltilmiş cevap", elem_id="correction")
                    comment = gr.Textbox(lines=2, label="Yorum", elem_id="comment")
                with gr.Row():
                    submit = gr.Button("Gönder (Enter)", variant="primary", elem_id="submit-btn")
                    skip = gr.Button("Atla (S)", elem_id="skip-btn")
                status = gr.Markdown(elem_id="status")
            with gr.Tab("Yönergeler"):
                gr.Markdown(GUIDELINES)
            with gr.Tab("Yönetim", visible=False) as admin_tab:
                refresh = gr.Button("Raporu yenile")
                annotators = gr.Dataframe(label="Etiketleyiciler (hız, süre, altın doğruluğu, tutarlılık)")
                agreement = gr.JSON(label="Uyum (Fleiss kappa, Krippendorff alfa)")
                cohen = gr.Dataframe(label="Cohen kappa (etiketleyici çiftleri)")
                disagreements = gr.Dataframe(label="Anlaşmazlıklar")
                win_rates = gr.Dataframe(label="Model kazanma oranları (Bradley–Terry, %95 güven aralığı)")
                export_format = gr.Radio(list(FORMATS), value="dpo", label="Dışa aktarma biçimi")
                export_csv = gr.Checkbox(label="CSV olarak indir")
                export_button = gr.Button("Dışa aktar")
                export_file = gr.File(label="Dosya")

        task_fields = [assignment_id, prompt, meta, answer_a, answer_b, progress, status]
        form = [
            choice,
            *ratings_a,
            *ratings_b,
            flags_a,
            severity_a,
            flags_b,
            severity_b,
            correction_side,
            correction,
            comment,
        ]

        def next_task(request: gr.Request):
            return _screen_outputs(_call(service.next_screen, _user(request)))

        def submit_vote(
            assignment,
            choice_value,
            dogruluk_a,
            guvenlik_a,
            uygulanabilirlik_a,
            aciklik_a,
            dogruluk_b,
            guvenlik_b,
            uygulanabilirlik_b,
            aciklik_b,
            flags_a_value,
            severity_a_value,
            flags_b_value,
            severity_b_value,
            correction_side_value,
            correction_value,
            comment_value,
            request: gr.Request,
        ):
            username = _user(request)
            vote = _vote_input(
                assignment,
                choice_value,
                (dogruluk_a, guvenlik_a, uygulanabilirlik_a, aciklik_a),
                (dogruluk_b, guvenlik_b, uygulanabilirlik_b, aciklik_b),
                flags_a_value,
                severity_a_value,
                flags_b_value,
                severity_b_value,
                correction_side_value,
                correction_value,
                comment_value,
            )
            screen = _call(service.vote_and_next, username, vote)
            message = (
                "Bu görev için oyunuz zaten kaydedilmişti." if screen.result.already_recorded else "Oyunuz kaydedildi."
            )
            return _screen_outputs(screen, message)

        def skip_task(assignment, request: gr.Request):
            username = _user(request)
            if assignment is None:
                return _screen_outputs(_call(service.next_screen, username))
            return _screen_outputs(_call(service.skip_and_next, username, int(assignment)), "Görev atlandı.")

        def show_admin(request: gr.Request):
            return gr.Tab(visible=service.is_admin(request.username if request else None))

        def admin_report(request: gr.Request):
            report = _call(service.qc_report, _user(request))
            return (
                _frame(report.annotators),
                report.agreement,
                _frame(report.cohen_pairs),
                _frame(report.disagreements),
                _frame(report.win_rates),
            )

        def export_data(fmt, as_csv, request: gr.Request):
            rows = _call(service.export_rows, _user(request), fmt)
            out = Path(tempfile.mkdtemp(prefix="annotation_export_")) / f"{fmt}.{'csv' if as_csv else 'jsonl'}"
            return str(write_rows(rows, out))

        # The annotation events are short database transactions: they skip Gradio's queue (one plain POST
        # instead of join + event stream), and the form is cleared in the browser, not by a second round trip.
        # The admin report and export stay queued.
        demo.load(next_task, outputs=task_fields, api_name="next_task", queue=False)
        demo.load(show_admin, outputs=admin_tab, api_visibility="private", queue=False)
        submit.click(
            submit_vote,
            [assignment_id, *form],
            task_fields,
            api_name="submit_vote",
            queue=False,
        ).success(None, outputs=form, js=RESET_FORM_JS, api_visibility="private")
        skip.click(skip_task, assignment_id, task_fields, api_name="skip", queue=False).success(
            None, outputs=form, js=RESET_FORM_JS, api_visibility="private"
        )
        refresh.click(
            admin_report, outputs=[annotators, agreement, cohen, disagreements, win_rates], api_name="admin_report"
        )
        export_button.click(export_data, [export_format, export_csv], export_file, api_name="export")
    return demo
