"""Gradio UI (Turkish). Only presentation: every handler calls the service with `request.username`; what is shown
is built by `annotation_app.presentation` and named by `annotation_app.vocabulary`."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import gradio as gr

from annotation_app import presentation as view
from annotation_app.export import FORMATS, write_rows
from annotation_app.service import AnnotationService, Screen, ValidationError, VoteInput
from annotation_app.vocabulary import (
    CHOICE_LABELS,
    CRITERIA,
    CRITERION_LABELS,
    FLAG_LABELS,
    FLAG_TYPES,
    SCORES,
    SEVERITY_LABELS,
    SIDES,
)

log = logging.getLogger("annotation_app")

GUIDELINES = (Path(__file__).parent / "guidelines_tr.md").read_text(encoding="utf-8")
NO_FLAG = "none"  # a flag radio's value when the answer does not have that problem
FLAG_CHOICES = [("Yok", NO_FLAG), *((label, code) for code, label in SEVERITY_LABELS.items())]
SAVED = "✓ Oyunuz kaydedildi."
ALREADY_SAVED = "Bu görev için oyunuz zaten kaydedilmişti."
SKIPPED = "Görev atlandı."
NEXT_BELOW = "Sıradaki soru aşağıda."

# The form, in the order the submit handler receives it: choice, the rubric (A then B, CRITERIA order), the flags
# (A then B, FLAG_TYPES order), the corrected side, the correction, the comment.
N_RATINGS, N_FLAGS = len(SIDES) * len(CRITERIA), len(SIDES) * len(FLAG_TYPES)
RESET_VALUES = ["null"] * (1 + N_RATINGS) + [f"'{NO_FLAG}'"] * N_FLAGS + ["'A'", "''", "''"]

# After a submit or skip (the chained step receives the error box, then the form): a refused vote keeps what the
# annotator entered; otherwise the form is cleared and the new question is scrolled into view and focused.
AFTER_SUBMIT_JS = f"""
(error, ...form) => {{
  if (error) return form;
  requestAnimationFrame(() => requestAnimationFrame(() => {{
    document.getElementById("task-top")?.scrollIntoView({{block: "start", behavior: "instant"}});
    const question = document.getElementById("prompt");
    if (question) {{ question.setAttribute("tabindex", "-1"); question.focus({{preventScroll: true}}); }}
  }}));
  return [{", ".join(RESET_VALUES)}];
}}
"""

# Keys: 1–6 choose, Enter submits, S skips. On a rubric scale 1–5 set the score, on a flag 0–3 set Yok / Düşük /
# Orta / Kritik, and focus moves on to the next scale or flag; the arrow keys step through a scale's options.
# Ignored while typing in a text field.
KEYBOARD_JS = """
() => {
  const typing = (el) => el && (el.tagName === "TEXTAREA" || el.isContentEditable ||
    (el.tagName === "INPUT" && !["radio", "checkbox"].includes(el.type)));
  const STEPS = {ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1};
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    const scale = event.target.closest?.(".rubric, .flag");
    if (scale) {
      const kind = scale.classList.contains("flag") ? ".flag" : ".rubric";
      const options = [...scale.querySelectorAll("input[type=radio]")];
      const digit = (kind === ".flag" ? "0123" : "12345").indexOf(event.key);
      if (digit >= 0) {
        options[digit].click();
        const scales = [...document.querySelectorAll(kind)];
        scales[scales.indexOf(scale) + 1]?.querySelector("input[type=radio]")?.focus();
      } else if (event.key in STEPS) {
        const at = options.indexOf(event.target) + STEPS[event.key];
        const option = options[Math.max(0, Math.min(options.length - 1, at))];
        option.click();
        option.focus();
      }
      if (digit >= 0 || event.key in STEPS || /^[0-9]$/.test(event.key)) { event.preventDefault(); return; }
    }
    if (event.key >= "1" && event.key <= "6") {
      const option = document.querySelectorAll("#choice input[type=radio]")[Number(event.key) - 1];
      if (option) { option.click(); event.preventDefault(); }
    } else if (event.key === "Enter" && !["BUTTON", "A"].includes(event.target.tagName)) {
      document.querySelector("#submit-btn")?.click(); event.preventDefault();
    } else if (event.key === "s" || event.key === "S") {
      document.querySelector("#skip-btn")?.click(); event.preventDefault();
    }
  });
}
"""

CSS = """
.gradio-container { overflow-x: clip !important; overflow-y: visible !important; }  /* lets #action-bar stick */
#topbar { align-items: center; flex-wrap: nowrap; }
#topbar h3 { margin: 0; }
#logout-btn { flex: 0 0 auto; min-width: 0; }
.plain-text { white-space: pre-wrap; overflow-wrap: anywhere; line-height: 1.5; }
#prompt .plain-text { font-size: 1.05rem; font-weight: 600; }
#prompt:focus { outline: 2px solid var(--color-accent); outline-offset: 4px; }
#answer-a .plain-text, #answer-b .plain-text {
  max-height: 34vh; overflow-y: auto; padding: 10px 12px; border: 1px solid var(--border-color-primary);
  border-radius: var(--radius-lg); background: var(--background-fill-secondary);
}
#task-top { align-items: center; min-height: 0; }
.notice { margin: 0; padding: 4px 10px; border-radius: var(--radius-md); background: #ecfdf5; color: #065f46;
  font-weight: 600; }
#action-bar { position: sticky; bottom: 0; z-index: 100; gap: 4px; padding: 6px 8px;
  background: var(--body-background-fill) !important; border-top: 2px solid var(--color-accent);
  box-shadow: 0 -4px 10px rgba(0, 0, 0, .08); }
#action-bar #choice { padding: 4px 8px; }
#action-bar #choice label { padding: 4px 10px; }
#action-bar .row { align-items: center; gap: 8px; }
#action-bar button { min-height: 0; padding: 6px 16px; white-space: nowrap; }
#form-error:empty { display: none; }
.form-error { margin: 0; padding: 6px 10px; border-radius: var(--radius-md); background: #fef2f2; color: #991b1b;
  border: 1px solid #fca5a5; font-weight: 600; }
.char-count { font-size: .9rem; color: var(--body-text-color-subdued); }
.char-count.over { color: #b91c1c; font-weight: 700; }
.rubric .wrap, .flag .wrap { flex-wrap: nowrap; gap: 4px; }
.rubric label, .flag label { padding: 4px 10px !important; min-width: 0; }
.disagreement { border: 1px solid var(--border-color-primary); border-radius: var(--radius-lg); padding: 10px;
  margin-bottom: 12px; }
.disagreement .answers { display: grid; grid-template-columns: repeat(auto-fit, minmax(280px, 1fr)); gap: 10px; }
.disagreement .question { font-weight: 600; }
@media (max-width: 640px) {
  #topbar h3 { font-size: 1rem; }
  #answer-a .plain-text, #answer-b .plain-text { max-height: 26vh; }
  #action-bar #choice > span, #action-bar #choice [data-testid="block-info"] { display: none; }
  #action-bar #choice .wrap { display: grid; grid-template-columns: 1fr 1fr; gap: 4px; }
  #action-bar #choice label { padding: 2px 6px; font-size: .9rem; }
  #action-bar .row { flex-wrap: wrap; }
  #action-bar button { flex: 1 1 40% !important; }
  #action-bar .row > #form-error { flex: 1 1 100% !important; min-width: 100% !important; }
  #prompt .plain-text { font-size: 1rem; }
  #topbar .subtitle { display: none; }
  .flag label, .rubric label { padding: 4px 7px !important; }
}
"""


def _user(request: gr.Request) -> str:
    if request is None or not request.username:
        raise gr.Error("Oturum açmanız gerekiyor.", print_exception=False)
    return request.username


def _call(fn, *args):
    """Run a service call whose refusals are not the annotator's input (wrong user, missing task): a Gradio error
    with a Turkish message, logged as one line."""
    try:
        return fn(*args)
    except (ValidationError, PermissionError) as error:
        log.warning("%s refused: %s", fn.__name__, str(error).replace("\n", " "))
        prefix = "Yetkiniz yok: " if isinstance(error, PermissionError) else ""
        raise gr.Error(prefix + str(error), print_exception=False) from None


def screen_outputs(screen: Screen, message: str = "", *, idle: str = view.NO_TASK) -> tuple:
    """(assignment id, question, crop/region/season, answer A, answer B, progress, notice, form error, take-task
    button) for a screen; `idle` is the notice when there is no task."""
    task, progress = screen.task, screen.progress
    progress_text = view.progress_text(progress.done, progress.total)
    if task is None:
        notice = view.notice(" ".join(filter(None, (message, idle))))
        return None, "", "", "", "", progress_text, notice, "", gr.update(visible=True)
    return (
        task.assignment_id,
        view.plain_text(task.prompt),
        view.task_meta(task.crop, task.region, task.season),
        view.plain_text(task.answer_a),
        view.plain_text(task.answer_b),
        progress_text,
        view.notice(" ".join(filter(None, (message, NEXT_BELOW if message else "")))),
        "",
        gr.update(visible=False),  # a dict: building a Button per request cost ~1 ms
    )


def vote_input(assignment_id, choice, *form) -> VoteInput:
    """The submitted form (see RESET_VALUES for its order) as the service's VoteInput."""
    ratings_values, flag_values = form[:N_RATINGS], form[N_RATINGS : N_RATINGS + N_FLAGS]
    correction_side, correction, comment = form[N_RATINGS + N_FLAGS :]
    ratings = {
        side: {c: int(v) for c, v in zip(CRITERIA, ratings_values[k * len(CRITERIA) :]) if v not in (None, "")}
        for k, side in enumerate(SIDES)
    }
    flags = {
        side: {f: v for f, v in zip(FLAG_TYPES, flag_values[k * len(FLAG_TYPES) :]) if v not in (None, "", NO_FLAG)}
        for k, side in enumerate(SIDES)
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


def _answer_details(side: str) -> tuple[list, list]:
    """The optional rubric and the safety flags (each with its own severity) of one answer."""
    gr.Markdown(f"**Cevap {side}: puanlar** (isteğe bağlı; bir ölçeğe gelip 1–5'e basabilirsiniz)")
    ratings = [
        gr.Radio(
            list(SCORES),
            label=f"{CRITERION_LABELS[c]} ({side})",
            elem_id=f"rate-{side.lower()}-{c}",
            elem_classes=["rubric"],
        )
        for c in CRITERIA
    ]
    gr.Markdown(f"**Cevap {side}: güvenlik işaretleri** (sorun varsa önem derecesi; tuşlar 0–3: Yok … Kritik)")
    flags = [
        gr.Radio(
            FLAG_CHOICES,
            value=NO_FLAG,
            label=f"{FLAG_LABELS[f]} ({side})",
            elem_id=f"flag-{side.lower()}-{f}",
            elem_classes=["flag"],
        )
        for f in FLAG_TYPES
    ]
    return ratings, flags


def _empty_frame(columns) -> gr.Dataframe:
    return gr.Dataframe(value=view.table([], columns), interactive=False, wrap=True)


def build_ui(service: AnnotationService) -> gr.Blocks:
    limit = service.config.max_correction_chars
    with gr.Blocks(title="Tarım RLHF — Etiketleme", analytics_enabled=False) as demo:
        with gr.Row(elem_id="topbar"):
            gr.Markdown('### Tarım RLHF <span class="subtitle">— Cevap karşılaştırma</span>', min_height=0)
            user_line = gr.Markdown(elem_id="user", min_height=0)
            gr.Button(
                "Çıkış yap", link="logout?all_session=false", size="sm", scale=0, min_width=90, elem_id="logout-btn"
            )
        with gr.Tabs():
            with gr.Tab("Etiketleme"):
                with gr.Row(elem_id="task-top"):
                    progress = gr.Markdown(elem_id="progress")
                    notice = gr.HTML(elem_id="notice", js_on_load=None)
                take_task = gr.Button("Görev al", visible=False, size="sm", elem_id="take-task-btn")
                assignment_id = gr.Number(visible=False, precision=0, label="Görev")
                prompt = gr.HTML(elem_id="prompt", js_on_load=None)
                meta = gr.HTML(elem_id="meta", js_on_load=None)
                with gr.Row(equal_height=False, elem_id="answers"):
                    with gr.Column(min_width=320):
                        gr.Markdown("#### Cevap A")
                        answer_a = gr.HTML(elem_id="answer-a", js_on_load=None)
                    with gr.Column(min_width=320):
                        gr.Markdown("#### Cevap B")
                        answer_b = gr.HTML(elem_id="answer-b", js_on_load=None)
                with gr.Row(equal_height=False, elem_id="details"):
                    with gr.Column(min_width=320):
                        ratings_a, flags_a = _answer_details("A")
                    with gr.Column(min_width=320):
                        ratings_b, flags_b = _answer_details("B")
                with gr.Accordion("Düzeltilmiş cevap ve yorum (isteğe bağlı)", open=False):
                    correction_side = gr.Radio(
                        [("A", "A"), ("B", "B")], value="A", label="Düzeltilen cevap", elem_id="correction-side"
                    )
                    correction = gr.Textbox(lines=5, label="Düzeltilmiş cevap", elem_id="correction")
                    counter = gr.HTML(view.correction_counter(limit), elem_id="correction-counter", js_on_load=None)
                    comment = gr.Textbox(lines=2, label="Yorum", elem_id="comment")
                with gr.Column(elem_id="action-bar"):
                    choice = gr.Radio(
                        [(label, code) for code, label in CHOICE_LABELS.items()],
                        label="Hangi cevap daha iyi? (1–6, Enter gönderir)",
                        elem_id="choice",
                    )
                    with gr.Row():
                        submit = gr.Button(
                            "Gönder (Enter)", variant="primary", scale=0, min_width=150, elem_id="submit-btn"
                        )
                        skip = gr.Button("Atla (S)", scale=0, min_width=100, elem_id="skip-btn")
                        error = gr.HTML(elem_id="form-error", js_on_load=None, min_width=200)
            with gr.Tab("Yönergeler"):
                gr.Markdown(GUIDELINES)
            with gr.Tab("Yönetim", visible=False) as admin_tab:
                refresh = gr.Button("Raporu yenile", size="sm")
                annotators = _empty_frame(view.ANNOTATOR_COLUMNS)
                gr.Markdown("#### Uyum (aynı soruyu oylayanlar arasında)")
                agreement = gr.Dataframe(value=view.agreement_table({}), interactive=False, wrap=True)
                gr.Markdown("#### Cohen kappa (etiketleyici çiftleri)")
                cohen = _empty_frame({**view.COHEN_COLUMNS, "": view.INTERPRETATION})
                gr.Markdown("#### Anlaşmazlıklar (her oy, etiketleyicinin gördüğü hâliyle)")
                disagreements = gr.HTML(elem_id="disagreements", js_on_load=None)
                gr.Markdown("#### Model kazanma oranları (Bradley–Terry, %95 güven aralığı)")
                win_rates = _empty_frame(view.WIN_RATE_COLUMNS)
                gr.Markdown("#### Dışa aktarma")
                export_format = gr.Radio([(view.EXPORT_LABELS[f], f) for f in FORMATS], value="dpo", label="Biçim")
                export_csv = gr.Checkbox(label="CSV olarak indir (Excel'de açılır)")
                export_button = gr.Button("Dışa aktar")
                export_file = gr.File(label="Dosya")

        task_fields = [assignment_id, prompt, meta, answer_a, answer_b, progress, notice, error, take_task]
        form = [choice, *ratings_a, *ratings_b, *flags_a, *flags_b, correction_side, correction, comment]
        report_outputs = [annotators, agreement, cohen, disagreements, win_rates]

        def open_task(request: gr.Request):
            username = _user(request)
            screen = _call(service.open_screen, username)
            idle = view.ADMIN_NO_TASK if service.is_admin(username) else view.NO_TASK
            return screen_outputs(screen, idle=idle)

        def take_next_task(request: gr.Request):
            return screen_outputs(_call(service.next_screen, _user(request)))

        def submit_vote(request: gr.Request, assignment, *values):
            username = _user(request)
            if assignment is None:
                return screen_outputs(_call(service.next_screen, username))
            try:
                screen = service.vote_and_next(username, vote_input(assignment, *values))
            except ValidationError as refused:  # the annotator's input: shown next to the button, form kept
                log.warning("vote refused (user %s, assignment %s): %s", username, assignment, refused)
                return (*[gr.skip()] * 6, "", view.form_error(str(refused)), gr.skip())
            except PermissionError as error:
                log.warning("vote refused (user %s, assignment %s): %s", username, assignment, error)
                raise gr.Error(f"Yetkiniz yok: {error}", print_exception=False) from None
            return screen_outputs(screen, ALREADY_SAVED if screen.result.already_recorded else SAVED)

        def skip_task(assignment, request: gr.Request):
            username = _user(request)
            if assignment is None:
                return screen_outputs(_call(service.next_screen, username))
            return screen_outputs(_call(service.skip_and_next, username, int(assignment)), SKIPPED)

        def open_admin(request: gr.Request):
            username = _user(request)
            line = f"Giriş: **{username}**"
            if not service.is_admin(username):
                return line, gr.Tab(visible=False), *[gr.skip()] * len(report_outputs)
            return line, gr.Tab(visible=True), *view.admin_tables(_call(service.qc_report, username))

        def admin_report(request: gr.Request):
            return view.admin_tables(_call(service.qc_report, _user(request)))

        def export_data(fmt, as_csv, request: gr.Request):
            rows = _call(service.export_rows, _user(request), fmt)
            out = Path(tempfile.mkdtemp(prefix="annotation_export_")) / f"{fmt}.{'csv' if as_csv else 'jsonl'}"
            return str(write_rows(rows, out))

        # The annotation events are short database transactions: they skip Gradio's queue (one plain POST
        # instead of join + event stream), and the form is cleared in the browser, not by a second round trip.
        # The admin report and export stay queued. No endpoint is listed in API docs.
        hidden = {"api_visibility": "undocumented"}
        demo.load(open_task, outputs=task_fields, api_name="next_task", queue=False, **hidden)
        demo.load(open_admin, outputs=[user_line, admin_tab, *report_outputs], api_name="open_admin", **hidden)
        take_task.click(take_next_task, outputs=task_fields, api_name="take_task", queue=False, **hidden)
        after = {"fn": None, "inputs": [error, *form], "outputs": form, "js": AFTER_SUBMIT_JS}
        submit.click(
            submit_vote, [assignment_id, *form], task_fields, api_name="submit_vote", queue=False, **hidden
        ).success(**after)
        skip.click(skip_task, assignment_id, task_fields, api_name="skip", queue=False, **hidden).success(**after)
        correction.change(None, correction, counter, js=view.correction_counter_js(limit))
        for edited in (choice, correction):  # a refusal's reason goes once the annotator acts on it (not on resets)
            edited.input(None, None, error, js="() => ''")
        refresh.click(admin_report, outputs=report_outputs, api_name="admin_report", **hidden)
        export_button.click(export_data, [export_format, export_csv], export_file, api_name="export", **hidden)
    return demo
