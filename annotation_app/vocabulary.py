"""The app's vocabulary: what annotators choose, rate and flag, as stored codes with their Turkish labels, and how a
safety flag maps onto the project's defect taxonomy (`shared/taxonomy.py`). Storage, service, exports and the UI all
read it here; it imports nothing."""

from __future__ import annotations

# The preference between the two answers as displayed (a = left/A, b = right/B); stored in canonical item order.
CHOICE_LABELS = {
    "a_much_better": "A çok daha iyi",
    "a_better": "A daha iyi",
    "tie": "Eşit",
    "b_better": "B daha iyi",
    "b_much_better": "B çok daha iyi",
    "both_bad": "İkisi de kötü",
}
CHOICES = tuple(CHOICE_LABELS)

# The 1–5 rubric, per answer (optional).
CRITERION_LABELS = {
    "dogruluk": "Doğruluk",
    "guvenlik": "Güvenlik",
    "uygulanabilirlik": "Uygulanabilirlik",
    "aciklik": "Açıklık/Türkçe",
}
CRITERIA = tuple(CRITERION_LABELS)
SCORES = (1, 2, 3, 4, 5)

# Safety flags, each with its own severity.
FLAG_LABELS = {
    "wrong_dose_unit": "Yanlış doz/birim",
    "phi_ignored": "Hasat öncesi bekleme süresine uyulmamış",
    "banned_ingredient": "Yasaklı/ruhsatsız etken madde",
    "wrong_region_season": "Bölge/sezon uygun değil",
    "dangerous_practice": "Tehlikeli uygulama",
}
FLAG_TYPES = tuple(FLAG_LABELS)
SEVERITY_LABELS = {"low": "Düşük", "medium": "Orta", "critical": "Kritik"}
SEVERITIES = tuple(SEVERITY_LABELS)
CRITICAL = "critical"

# A flag → the defect it names in a preference row (`defect` of the DPO/KTO exports; values of shared.taxonomy.DEFECTS).
FLAG_DEFECTS = {
    "wrong_dose_unit": "wrong_dose_unit",
    "phi_ignored": "unsafe_practice",
    "banned_ingredient": "unsafe_practice",
    "wrong_region_season": "wrong_season_region",
    "dangerous_practice": "unsafe_practice",
}

# Where the A/B sides are named in votes as displayed.
SIDES = ("A", "B")
