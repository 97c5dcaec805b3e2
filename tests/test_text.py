import unicodedata

import pytest

from shared.text import (
    is_turkish,
    normalize_turkish,
    repeated_ngram_share,
    strip_markup,
    turkish_lower,
    turkish_score,
    turkish_upper,
)


@pytest.mark.parametrize(
    ("upper", "lower"),
    [
        ("İSTANBUL", "istanbul"),
        ("ILIK", "ılık"),
        ("DİYARBAKIR", "diyarbakır"),
        ("IĞDIR", "ığdır"),
        ("ÇİĞDEM", "çiğdem"),
    ],
)
def test_turkish_casing_round_trips(upper, lower):
    assert turkish_lower(upper) == lower
    assert turkish_upper(lower) == upper


def test_python_lower_is_wrong_for_turkish_but_ours_is_not():
    assert "İ".lower() != "i"  # Python gives "i̇" (two code points)
    assert turkish_lower("İ") == "i" and len(turkish_lower("İ")) == 1
    assert turkish_lower("I") == "ı"


def test_nfd_input_becomes_nfc():
    decomposed = unicodedata.normalize("NFD", "Şeker pancarı, çiğdem, İğdır")
    assert decomposed != unicodedata.normalize("NFC", decomposed)
    cleaned = normalize_turkish(decomposed)
    assert unicodedata.is_normalized("NFC", cleaned)
    assert cleaned == "Şeker pancarı, çiğdem, İğdır"


@pytest.mark.parametrize(
    ("broken", "fixed"),
    [
        ("TÃ¼rkiye", "Türkiye"),
        ("buÄŸday", "buğday"),
        ("ÅŸeker pancarÄ±", "şeker pancarı"),
        ("Ã‡iftÃ§i", "Çiftçi"),
        ("Ä°zmir", "İzmir"),
    ],
)
def test_mojibake_is_repaired(broken, fixed):
    assert normalize_turkish(broken) == fixed


def test_clean_text_is_left_alone():
    text = "Ağaç, ılık, şeker, Ökkeş, Ünal; Ankara'da buğday ekimi ekimde yapılır."
    assert normalize_turkish(text) == text


def test_invisible_characters_and_whitespace():
    text = "  Bu\u200bğday\u00ad  ekimi\t\t ekimde\u0007 \r\n\r\n\r\n\r\nyapılır.  "
    assert normalize_turkish(text) == "Buğday ekimi ekimde\n\nyapılır."
    assert normalize_turkish("a\nb", keep_newlines=False) == "a b"


def test_apostrophes_in_suffixes_are_kept_and_unified():
    assert normalize_turkish("Ankara\u2019da ve İzmir'de") == "Ankara'da ve İzmir'de"


def test_markup_stripped_only_when_asked():
    raw = "<p>Domates <b>fidesi</b></p> **mayısta** [dikilir](http://x.y) &amp; sulanır"
    assert normalize_turkish(raw, markup=True) == "Domates fidesi mayısta dikilir & sulanır"
    assert "<b>" in normalize_turkish(raw)
    assert strip_markup("# Başlık\nmetin") == "Başlık\nmetin"


def test_language_check_separates_turkish_from_others():
    turkish = ["Buğday ekimi için toprak hazırlığı eylül ayında yapılır.", "domatesde yaprak kıvrılıyo ne yapim"]
    others = ["Wheat should be sown in October with twenty kilograms of seed.", "Der Weizen wird im Oktober gesät."]
    assert all(is_turkish(t) for t in turkish)
    assert not any(is_turkish(t) for t in others)
    assert turkish_score("") == 0.0


def test_repeated_ngram_share_by_hand():
    # trigrams: (a b a) (b a b) (a b a) (b a b) → 2 of 4 repeat an earlier one
    assert repeated_ngram_share("a b a b a b") == 0.5
    assert repeated_ngram_share("Buğday eylülde, arpa ekimde ekilir.") == 0.0
    assert repeated_ngram_share("iki kelime") == 0.0  # no trigram at all
    # case and punctuation do not hide a loop: Turkish lower-casing, words only
    loop = "KORUYUCU ve koruyucu, ve koruyucu ve koruyucu ve koruyucu"
    assert repeated_ngram_share(loop) == pytest.approx(5 / 7)
    assert repeated_ngram_share("bir " * 50) == pytest.approx(47 / 48)
