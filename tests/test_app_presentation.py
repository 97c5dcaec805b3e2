"""What the app's pages show, without a browser: plain text, Turkish admin tables, disagreements as seen."""

from dataclasses import replace

import pytest

from annotation_app import presentation as view
from annotation_app import qc
from annotation_app.records import CandidateInfo
from tests.test_annotation_qc import record


def test_model_and_user_text_is_shown_as_text_never_as_markup():
    shown = view.plain_text("# Başlık\n![x](http://h/t.png) <script>alert(1)</script> & http://h/")
    assert shown == (
        '<div class="plain-text"># Başlık\n![x](http://h/t.png) &lt;script&gt;alert(1)&lt;/script&gt; &amp; '
        "http://h/</div>"
    )
    assert "&lt;b&gt;buğday&lt;/b&gt;" in view.task_meta("<b>buğday</b>", "", "kış")
    assert "<b>Bölge:</b> —" in view.task_meta("", "", "")
    assert view.form_error("<i>x</i>") == '<p class="form-error" role="alert">Oy kaydedilmedi: &lt;i&gt;x&lt;/i&gt;</p>'
    assert view.form_error("") == ""


def test_the_correction_counter_starts_in_turkish_number_format():
    assert view.correction_counter(8000) == '<span class="char-count">0 / 8.000 karakter</span>'
    assert view.correction_counter(120, "ğüş") == '<span class="char-count">3 / 120 karakter</span>'


def test_admin_tables_have_turkish_headings_and_no_placeholder_rows():
    empty = view.table([], view.ANNOTATOR_COLUMNS)
    assert list(empty.columns)[:2] == ["Etiketleyici", "Oy"] and len(empty) == 0
    report = qc.build_report([], {}, bootstrap_samples=5)
    annotators, agreement, cohen, disagreements, win_rates = view.admin_tables(report)
    assert len(annotators) == len(cohen) == len(win_rates) == 0
    assert list(agreement["Ölçü"]) == ["Fleiss kappa", "Krippendorff alfa (nominal)", "Krippendorff alfa (sıralı)"]
    assert set(agreement["Değer"]) == {"—"} and "Anlaşmazlık yok" in disagreements
    rows = [{"model": "m", "comparisons": 3, "win_rate": 0.5, "win_rate_ci95": [0.25, 0.75], "bt_ci95": [-1, 1]}]
    frame = view.table(rows, view.WIN_RATE_COLUMNS)
    assert frame.iloc[0]["Kazanma oranı %95 GA"] == "0.25–0.75" and frame.iloc[0]["Bradley–Terry puanı"] == "—"


@pytest.mark.parametrize(
    ("value", "reading"),
    [
        (None, "hesaplanamadı"),
        (-0.1, "şanstan kötü"),
        (0.0, "çok zayıf"),
        (0.2, "çok zayıf"),
        (0.5, "orta"),
        (0.7, "iyi"),
        (0.9, "çok iyi"),
    ],
)
def test_kappa_readings(value, reading):
    shown = view.kappa_reading(value)
    assert shown.startswith(reading) if value is None else shown == reading


def test_a_disagreement_shows_both_answers_in_full_and_each_vote_as_seen():
    long_answer = "Dekara 2 kg gübre verin. " * 40
    first, second = record(7, "ayşe", "b_better"), record(7, "<mehmet>", "a_better", swapped=True)
    first = replace(first, candidate_a=CandidateInfo(14, "m1", "", long_answer))
    shown = view.disagreement_html(qc.disagreements([first, second]))
    assert shown.count("Dekara 2 kg gübre verin.") == 40 and "cevap b 7" in shown
    assert "“B daha iyi” seçti (A'da Cevap 1, B'de Cevap 2 vardı) → Cevap 2'yi tercih etti" in shown
    assert (
        "<b>&lt;mehmet&gt;</b>: “B daha iyi” seçti (A'da Cevap 2, B'de Cevap 1 vardı) → Cevap 1'i tercih etti" in shown
    )
