"""The project's vocabulary, in one place: subdomains (categories), preference defects, chat roles, regions and
seasons. The data scripts under `data/`, the loaders, the evaluation and the annotation app all read it here."""

from __future__ import annotations

# Agricultural subdomains (ASCII slugs): SFT categories, MCQ/open-QA subdomains, annotation prompt categories.
CATEGORIES = (
    "tarla_bitkileri",
    "sebze",
    "meyve_bag",
    "bitki_koruma",
    "toprak_gubreleme",
    "sulama",
    "hayvancilik",
    "iklim_takvim",
    "destek_kooperatif",
)

# What is wrong with a rejected answer in a preference pair.
DEFECTS = (
    "wrong_dose_unit",
    "wrong_season_region",
    "unsafe_practice",
    "vague",
    "hallucinated_product",
    "code_mixed",
    "too_short",
    "rude",
)
# Defects that make an answer dangerous to follow (kept out of "tie" handling, reported separately).
CRITICAL_SAFETY_DEFECTS = frozenset({"unsafe_practice", "wrong_dose_unit"})

ROLES = {"system", "user", "assistant"}

REGIONS = ("Marmara", "Ege", "Akdeniz", "İç Anadolu", "Karadeniz", "Doğu Anadolu", "Güneydoğu Anadolu")
SEASONS = ("ilkbahar", "yaz", "sonbahar", "kış")
