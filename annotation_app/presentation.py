"""What the pages show, as text, HTML and tables (Turkish), without Gradio: the UI module wires these into
components. Everything that comes from a model, a prompt file or a user goes through `plain_text` — escaped and
shown with its line breaks, never read as Markdown or HTML (no links, images, headings or scripts)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

from annotation_app.vocabulary import CHOICE_LABELS

if TYPE_CHECKING:  # qc pulls in sklearn/statsmodels: loaded only when a report is asked for
    from annotation_app.qc import Disagreement, DisagreementVote, QCReport

NO_TASK = "Şu an için bekleyen görev yok. Teşekkürler!"
ADMIN_NO_TASK = (
    "Yönetici hesabıyla açtınız: size kendiliğinden görev verilmez (her soru etiketleyicilere ayrılır). "
    "Etiketlemek isterseniz <b>Görev al</b>'a basın."
)


def plain_text(text: str | None, css_class: str = "plain-text") -> str:
    """`text` as an HTML fragment that displays exactly that text: escaped, line breaks kept by CSS."""
    return f'<div class="{css_class}">{html.escape(text or "", quote=False)}</div>'


def task_meta(crop: str, region: str, season: str) -> str:
    parts = (("Ürün", crop), ("Bölge", region), ("Mevsim", season))
    return '<div class="meta">' + " · ".join(f"<b>{k}:</b> {html.escape(v or '—')}" for k, v in parts) + "</div>"


def progress_text(done: int, total: int) -> str:
    return f"İlerleme: **{done} / {total}**"


def notice(message: str) -> str:
    """A short message for the top of the task (role=status: screen readers announce it)."""
    return f'<p class="notice" role="status">{message}</p>' if message else ""


def form_error(message: str) -> str:
    """A refused submit's reason, shown next to the submit button."""
    return f'<p class="form-error" role="alert">Oy kaydedilmedi: {html.escape(message)}</p>' if message else ""


def correction_counter_js(limit: int) -> str:
    """Browser-side counter for the correction box (`length / limit`, red with the excess over the limit)."""
    return f"""(text) => {{
  const n = [...(text || "")].length, limit = {limit}, fmt = (x) => x.toLocaleString("tr-TR");
  return n > limit
    ? `<span class="char-count over">${{fmt(n)}} / ${{fmt(limit)}} karakter — ${{fmt(n - limit)}} fazla</span>`
    : `<span class="char-count">${{fmt(n)}} / ${{fmt(limit)}} karakter</span>`;
}}"""


def correction_counter(limit: int, text: str = "") -> str:
    """The counter's first state (the browser keeps it up to date with `correction_counter_js`)."""
    return f'<span class="char-count">{len(text):,} / {limit:,} karakter</span>'.replace(",", ".")


# ---------------------------------------------------------------- admin report

ANNOTATOR_COLUMNS = {
    "annotator": "Etiketleyici",
    "votes": "Oy",
    "skipped": "Atlanan",
    "pending": "Bekleyen",
    "votes_per_hour": "Oy/saat",
    "median_time_s": "Medyan süre (sn)",
    "gold_items": "Altın soru",
    "gold_accuracy": "Altın doğruluğu",
    "swap_repeats": "Yer değiştirmiş tekrar",
    "self_consistency": "Kendi içinde tutarlılık",
}
COHEN_COLUMNS = {
    "annotator_1": "Etiketleyici 1",
    "annotator_2": "Etiketleyici 2",
    "items": "Ortak soru",
    "raw_agreement": "Ham uyum",
    "cohen_kappa": "Cohen kappa",
}
WIN_RATE_COLUMNS = {
    "model": "Model",
    "comparisons": "Karşılaştırma",
    "win_rate": "Kazanma oranı",
    "win_rate_ci95": "Kazanma oranı %95 GA",
    "bt_score": "Bradley–Terry puanı",
    "bt_ci95": "Bradley–Terry %95 GA",
}
AGREEMENT_COLUMNS = ("Ölçü", "Değer", "Yorum", "Neye göre")
INTERPRETATION = "Yorum"
EXPORT_LABELS = {
    "dpo": "DPO çiftleri (tercih edilen / edilmeyen)",
    "kto": "KTO etiketleri (iyi / kötü cevap)",
    "sft": "SFT (düzeltilmiş cevaplar)",
    "raw": "Ham oylar (her oy bir satır)",
}


def _cell(value):
    if value is None:
        return "—"
    if isinstance(value, list | tuple):  # a confidence interval
        return "–".join(str(v) for v in value)
    return value


def table(rows: Sequence[dict], columns: dict[str, str]) -> pd.DataFrame:
    """Rows of the QC report under Turkish headings; an empty table keeps its headings (no placeholder row)."""
    return pd.DataFrame([[_cell(row.get(key)) for key in columns] for row in rows], columns=list(columns.values()))


def kappa_reading(value: float | None) -> str:
    """Landis & Koch's reading of a kappa/alpha value, in Turkish."""
    if value is None:
        return "hesaplanamadı: aynı soruyu oylamış en az iki etiketleyici gerekir"
    if value < 0:
        return "şanstan kötü"
    for upper, words in ((0.2, "çok zayıf"), (0.4, "zayıf"), (0.6, "orta"), (0.8, "iyi")):
        if value <= upper:
            return words
    return "çok iyi"


def agreement_table(agreement: dict) -> pd.DataFrame:
    items = agreement.get("fleiss_items", 0)
    rows = [
        ("Fleiss kappa", agreement.get("fleiss_kappa"), f"tercih yönü, {items} soru"),
        ("Krippendorff alfa (nominal)", agreement.get("krippendorff_alpha_nominal"), "tercih yönü"),
        ("Krippendorff alfa (sıralı)", agreement.get("krippendorff_alpha_ordinal"), "5 basamaklı tercih ölçeği"),
    ]
    return pd.DataFrame(
        [(name, _cell(value), kappa_reading(value), basis) for name, value, basis in rows], columns=AGREEMENT_COLUMNS
    )


def cohen_table(rows: Sequence[dict]) -> pd.DataFrame:
    frame = table(rows, COHEN_COLUMNS)
    frame[INTERPRETATION] = [kappa_reading(row.get("cohen_kappa")) for row in rows]
    return frame


_ANSWER_ACCUSATIVE = {1: "Cevap 1'i", 2: "Cevap 2'yi"}


def _vote_line(vote: DisagreementVote) -> str:
    other = 3 - vote.left_answer
    seen = f"A'da Cevap {vote.left_answer}, B'de Cevap {other} vardı"
    if vote.preferred_answer is not None:
        meaning = f"{_ANSWER_ACCUSATIVE[vote.preferred_answer]} tercih etti"
    elif vote.displayed_choice == "tie":
        meaning = "ikisini eşit buldu"
    else:
        meaning = "ikisini de kötü buldu"
    label = CHOICE_LABELS[vote.displayed_choice]
    return f"<li><b>{html.escape(vote.annotator)}</b>: “{label}” seçti ({seen}) → {meaning}</li>"


def disagreement_html(rows: Sequence[Disagreement]) -> str:
    """Each disputed item with its question and both answers in full, and every vote as its annotator saw it."""
    if not rows:
        return '<p class="empty">Anlaşmazlık yok: her soruda etiketleyiciler aynı yönde oy verdi.</p>'
    parts = []
    for row in rows:
        answers = "".join(
            f'<div class="answer"><h5>Cevap {n} <small>({html.escape(c.model_name)})</small></h5>'
            f"{plain_text(c.text)}</div>"
            for n, c in enumerate(row.answers, start=1)
        )
        votes = "".join(_vote_line(vote) for vote in row.votes)
        parts.append(
            f'<section class="disagreement"><h4>Soru #{row.item_id} — {row.distinct} farklı görüş</h4>'
            f'{plain_text(row.prompt, "plain-text question")}<div class="answers">{answers}</div><ul>{votes}</ul>'
            "</section>"
        )
    return "".join(parts)


def admin_tables(report: QCReport) -> tuple:
    """(annotators, agreement, Cohen pairs, disagreements HTML, win rates) for the admin tab."""
    return (
        table(report.annotators, ANNOTATOR_COLUMNS),
        agreement_table(report.agreement),
        cohen_table(report.cohen_pairs),
        disagreement_html(report.disagreements),
        table(report.win_rates, WIN_RATE_COLUMNS),
    )
