#!/usr/bin/env python
"""Generate the project's Turkish datasets from the knowledge base (deterministic).

Reads ``data/kb/*.yaml`` (and, when present, ``data/handwritten/sft_farmer.jsonl``) and writes:

* ``data/sft/{train,validation}.jsonl``          conversational SFT rows (messages, category, source)
* ``data/preferences/{train,test}.jsonl``        preference pairs with a labelled defect
* ``data/eval/mcq.jsonl`` / ``mcq_dev.jsonl``    5-choice TurkishMMLU-style questions
* ``data/eval/open_qa.jsonl``                    open questions with reference + atomic facts

Everything is driven by ``random.Random(SEED)`` instances, iterates over sorted inputs and writes
NFC-normalised UTF-8 JSONL (``ensure_ascii=False``), so re-running produces byte-identical files.

Training-side question templates (``Q_*``) and evaluation-side templates (``EVAL_*``) are kept in
separate lists; eval questions are checked against every training question with
``check_leakage.find_leaks`` before the files are written.

Usage: ``python data/scripts/generate_datasets.py [--seed N] [--out-root DIR]``
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import sys
import time
import unicodedata
from collections import Counter, defaultdict
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
from check_leakage import find_leaks, normalize  # noqa: E402

SEED = 20240601
SFT_TARGET = 1950  # generated conversations (hand-written rows come on top)
SFT_VAL_SHARE = 0.05
PREF_PER_DEFECT = 88
PREF_TEST_SHARE = 0.15
OPEN_QA_PER_SUBDOMAIN = 21
MCQ_DEV_PER_SUBDOMAIN = 5

SUBDOMAINS = [
    "tarla_bitkileri",
    "sebze",
    "meyve_bag",
    "bitki_koruma",
    "toprak_gubreleme",
    "sulama",
    "hayvancilik",
    "iklim_takvim",
    "destek_kooperatif",
]
DEFECTS = [
    "wrong_dose_unit",
    "wrong_season_region",
    "unsafe_practice",
    "vague",
    "hallucinated_product",
    "code_mixed",
    "too_short",
    "rude",
]
STRENGTH = {"wrong_dose_unit": 2, "unsafe_practice": 2}  # everything else: 1

SYSTEM_PROMPT = (
    "Sen Türkiye'deki çiftçilere yardımcı olan uzman bir ziraat mühendisisin. Sorulara açık, pratik ve "
    "güvenli Türkçe yanıtlar verirsin; ilaç ve gübre dozlarını birimleriyle verir, etiket talimatlarına ve "
    "hasat öncesi bekleme sürelerine uyulmasını hatırlatırsın."
)

# ----------------------------------------------------------------------------------------------
# Turkish text helpers
# ----------------------------------------------------------------------------------------------

MONTHS = ["Ocak", "Şubat", "Mart", "Nisan", "Mayıs", "Haziran", "Temmuz", "Ağustos", "Eylül", "Ekim", "Kasım", "Aralık"]
MONTH_RE = re.compile(r"\b(" + "|".join(MONTHS) + r")\b")
BACK_VOWELS = set("aıou")
FRONT_VOWELS = set("eiöü")
HARD_CONSONANTS = set("fstkçşhp")
LOC_EXCEPTIONS = {"Kırklareli": "Kırklareli'nde"}


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def cap(text: str) -> str:
    """Upper-case the first letter with Turkish rules (i→İ, ı→I)."""
    if not text:
        return text
    first = {"i": "İ", "ı": "I"}.get(text[0], text[0].upper())
    return first + text[1:]


def decap(text: str) -> str:
    """Lower-case the first letter unless the word looks like an acronym (HPPD, ACCase)."""
    if len(text) > 1 and text[1].isupper():
        return text
    first = {"İ": "i", "I": "ı"}.get(text[0], text[0].lower())
    return first + text[1:]


def loc(name: str) -> str:
    """Locative with apostrophe for a proper noun: Konya → Konya'da, Uşak → Uşak'ta, Rize → Rize'de."""
    if name in LOC_EXCEPTIONS:
        return LOC_EXCEPTIONS[name]
    word = name.split()[-1].replace("İ", "i").replace("I", "ı").lower()
    vowel = next((c for c in reversed(word) if c in BACK_VOWELS | FRONT_VOWELS), "a")
    suffix_vowel = "a" if vowel in BACK_VOWELS else "e"
    consonant = "t" if word[-1] in HARD_CONSONANTS else "d"
    return f"{name}'{consonant}{suffix_vowel}"


def region_loc(region: str) -> str:
    return loc(region)


def region_bolge_loc(region: str) -> str:
    return f"{region} Bölgesi'nde"


def join_tr(items: list[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " ve " + items[-1]


def fmt_num(x: float) -> str:
    """Turkish number format: 2500 → 2.500, 0.4 → 0,4, 12 → 12."""
    if abs(x - round(x)) < 1e-9:
        n = int(round(x))
        return f"{n:,}".replace(",", ".") if abs(n) >= 1000 else str(n)
    s = f"{x:.3f}".rstrip("0").rstrip(".")
    return s.replace(".", ",")


def fmt_range(lo: float, hi: float, unit: str | None = None) -> str:
    body = fmt_num(lo) if lo == hi else f"{fmt_num(lo)}-{fmt_num(hi)}"
    return f"{body} {unit}" if unit else body


def sentences(*parts: str | None) -> str:
    return " ".join(p.strip() for p in parts if p and p.strip())


def months_of(window: str) -> set[int]:
    idx = [MONTHS.index(m) for m in MONTH_RE.findall(window)]
    if not idx:
        return set()
    first, last = idx[0], idx[-1]
    span = (last - first) % 12
    return {(first + k) % 12 for k in range(span + 1)}


def shift_window(window: str, k: int) -> str:
    return MONTH_RE.sub(lambda m: MONTHS[(MONTHS.index(m.group(1)) + k) % 12], window)


def wrong_windows(window: str, *, margin: int = 1) -> list[str]:
    """Month-shifted versions of ``window`` that do not touch the correct months (± margin)."""
    base = months_of(window)
    near = {(m + d) % 12 for m in base for d in range(-margin, margin + 1)}
    out = []
    for k in range(1, 12):
        shifted = months_of(shift_window(window, k))
        if shifted and not shifted & near:
            out.append(shift_window(window, k))
    return out


# ----------------------------------------------------------------------------------------------
# Provinces
# ----------------------------------------------------------------------------------------------

PROVINCES = {
    "Marmara": ["Tekirdağ", "Edirne", "Bursa", "Balıkesir", "Kırklareli", "Sakarya"],
    "Ege": ["İzmir", "Manisa", "Aydın", "Denizli", "Uşak", "Muğla"],
    "Akdeniz": ["Antalya", "Adana", "Mersin", "Hatay"],
    "İç Anadolu": ["Konya", "Ankara", "Eskişehir", "Kayseri", "Niğde", "Yozgat", "Aksaray"],
    "Karadeniz": ["Samsun", "Ordu", "Giresun", "Trabzon", "Tokat", "Amasya"],
    "Doğu Anadolu": ["Erzurum", "Kars", "Van", "Malatya", "Elazığ", "Muş"],
    "Güneydoğu Anadolu": ["Şanlıurfa", "Diyarbakır", "Mardin", "Gaziantep", "Adıyaman", "Batman"],
}
# Where the generic list would put a crop somewhere it is hardly grown.
CROP_PROVINCES = {
    ("bugday", "Akdeniz"): ["Adana", "Hatay"],
    ("bugday", "Marmara"): ["Tekirdağ", "Edirne", "Kırklareli"],
    ("arpa", "Marmara"): ["Edirne", "Tekirdağ", "Balıkesir"],
    ("misir", "Akdeniz"): ["Adana", "Mersin", "Hatay"],
    ("misir", "Karadeniz"): ["Samsun"],
    ("misir", "Marmara"): ["Sakarya", "Bursa", "Edirne"],
    ("aycicegi", "Marmara"): ["Tekirdağ", "Edirne", "Kırklareli"],
    ("aycicegi", "İç Anadolu"): ["Konya", "Eskişehir", "Aksaray"],
    ("pamuk", "Ege"): ["Aydın", "İzmir", "Manisa"],
    ("pamuk", "Akdeniz"): ["Adana", "Hatay"],
    ("pamuk", "Güneydoğu Anadolu"): ["Şanlıurfa", "Diyarbakır", "Mardin"],
    ("seker_pancari", "İç Anadolu"): ["Konya", "Eskişehir", "Kayseri", "Aksaray"],
    ("seker_pancari", "Doğu Anadolu"): ["Erzurum", "Muş"],
    ("nohut", "Akdeniz"): ["Adana", "Mersin", "Hatay"],
    ("nohut", "İç Anadolu"): ["Konya", "Ankara", "Yozgat"],
    ("mercimek", "Güneydoğu Anadolu"): ["Şanlıurfa", "Mardin", "Diyarbakır", "Gaziantep"],
    ("mercimek", "İç Anadolu"): ["Yozgat", "Ankara", "Konya"],
    ("domates", "Akdeniz"): ["Antalya", "Mersin"],
    ("domates", "Marmara"): ["Bursa", "Balıkesir"],
    ("domates", "Ege"): ["İzmir", "Manisa", "Denizli"],
    ("biber", "Akdeniz"): ["Antalya", "Mersin"],
    ("biber", "Marmara"): ["Bursa", "Balıkesir"],
    ("biber", "Güneydoğu Anadolu"): ["Gaziantep", "Şanlıurfa"],
    ("patlican", "Akdeniz"): ["Antalya", "Mersin"],
    ("patlican", "Ege"): ["İzmir", "Aydın"],
    ("hiyar", "Akdeniz"): ["Antalya", "Mersin"],
    ("hiyar", "Marmara"): ["Bursa", "Sakarya"],
    ("patates", "İç Anadolu"): ["Niğde", "Konya", "Kayseri"],
    ("patates", "Ege"): ["İzmir"],
    ("sogan", "İç Anadolu"): ["Ankara", "Eskişehir"],
    ("sogan", "Karadeniz"): ["Amasya", "Tokat"],
    ("karpuz", "Akdeniz"): ["Adana", "Antalya"],
    ("karpuz", "Güneydoğu Anadolu"): ["Diyarbakır", "Şanlıurfa"],
    ("findik", "Karadeniz"): ["Ordu", "Giresun", "Trabzon", "Samsun"],
    ("zeytin", "Ege"): ["Aydın", "İzmir", "Manisa", "Muğla"],
    ("zeytin", "Marmara"): ["Bursa", "Balıkesir"],
    ("elma", "Akdeniz"): ["Isparta"],
    ("elma", "İç Anadolu"): ["Niğde", "Kayseri"],
    ("kayisi", "Doğu Anadolu"): ["Malatya", "Elazığ"],
    ("kayisi", "Akdeniz"): ["Mersin"],
    ("uzum", "Ege"): ["Manisa", "İzmir", "Denizli"],
    ("uzum", "İç Anadolu"): ["Ankara", "Kayseri"],
    ("narenciye", "Akdeniz"): ["Adana", "Mersin", "Antalya", "Hatay"],
    ("narenciye", "Ege"): ["İzmir", "Muğla"],
    ("cay", "Karadeniz"): ["Rize", "Trabzon"],
    ("antep_fistigi", "Güneydoğu Anadolu"): ["Gaziantep", "Şanlıurfa", "Adıyaman"],
}


def provinces_for(crop_id: str | None, region: str) -> list[str]:
    if region not in PROVINCES:
        return [p for r in sorted(PROVINCES) for p in PROVINCES[r]]
    return CROP_PROVINCES.get((crop_id, region), PROVINCES[region])


# ----------------------------------------------------------------------------------------------
# Knowledge base → units
# ----------------------------------------------------------------------------------------------

VERBS = {
    "ekim": {
        "noun": "ekim",
        "poss": "ekimi",
        "gen": "ekiminin",
        "loc": "ekiminde",
        "nec": "ekmeliyim",
        "opt": "ekeyim",
        "fut": "ekeceğim",
        "pass": "ekilir",
        "use": "kullanmalıyım",
    },
    "dikim": {
        "noun": "dikim",
        "poss": "dikimi",
        "gen": "dikiminin",
        "loc": "dikiminde",
        "nec": "dikmeliyim",
        "opt": "dikeyim",
        "fut": "dikeceğim",
        "pass": "dikilir",
        "use": "dikmeliyim",
    },
}

UNIT_SWAP = {
    "kg/da": "kg/ha",
    "ml/da": "L/da",
    "g/da": "kg/da",
    "ml/100 L su": "ml/L su",
    "g/100 L su": "g/L su",
    "ml/100 kg tohum": "ml/kg tohum",
    "adet/da": "adet/m²",
}
SEED_COUNT_UNITS = {"adet/da"}


def load_kb(kb_dir: Path) -> list[dict]:
    topics = []
    for path in sorted(kb_dir.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for t in doc["topics"]:
            t.setdefault("subdomain", doc["subdomain"])
            topics.append(t)
    return topics


class Crop:
    """Convenience wrapper with the grammatical forms of a crop topic."""

    def __init__(self, t: dict):
        self.t = t
        self.id = t["id"]
        f = t["forms"]
        self.plain, self.acc, self.gen, self.loc = f["plain"], f["acc"], f["gen"], f["loc"]
        self.plant_plain = f.get("plant_plain", self.plain)
        self.plant_acc = f.get("plant_acc", self.acc)
        self.verb = VERBS[t["planting"]]
        self.subdomain = t["subdomain"]
        self.place = "bahçemde" if self.subdomain == "meyve_bag" else "tarlamda"
        self.place_loc = "bahçede" if self.subdomain == "meyve_bag" else "tarlada"

    def provinces(self, region: str | None = None) -> list[str]:
        regions = [region] if region else self.t["regions"]
        out: list[str] = []
        for r in regions:
            out += [p for p in provinces_for(self.id, r) if p not in out]
        return out


def build_units(topics: list[dict]) -> list[dict]:
    """Flatten the KB into fact units; each unit is one answerable fact with a category."""
    units: list[dict] = []
    for t in topics:
        if "forms" in t:  # crop topic
            c = Crop(t)
            for s in t.get("sowing", []):
                units.append({"type": "sowing", "crop": c, "entry": s, "category": c.subdomain})
            units.append({"type": "harvest", "crop": c, "category": c.subdomain})
            if t.get("seed_rate"):
                units.append({"type": "seed", "crop": c, "category": c.subdomain})
            units.append({"type": "fert", "crop": c, "category": "toprak_gubreleme"})
            units.append({"type": "irr", "crop": c, "category": "sulama"})
            for p in t.get("protection", []):
                units.append({"type": "pest", "crop": c, "pest": p, "category": "bitki_koruma"})
            units.append({"type": "tips", "crop": c, "category": c.subdomain})
        else:
            for i, fct in enumerate(t["facts"]):
                units.append({"type": "free", "topic": t, "fact": fct, "idx": i, "category": t["subdomain"]})
    for i, u in enumerate(units):
        u["uid"] = i
        name = u["crop"].id if "crop" in u else u["topic"]["id"]
        u["key"] = f"{name}:{u['type']}:{i}"
    return units


# ----------------------------------------------------------------------------------------------
# Shared answer pieces
# ----------------------------------------------------------------------------------------------

CROP_CLOSERS = [
    "Bölgenize özgü ayrıntılar için ilçe tarım ve orman müdürlüğüne danışabilirsiniz.",
    "Yerel koşullar farklılık gösterebileceğinden deneyimli üreticilerle ve bir ziraat mühendisiyle görüşmenizi öneririm.",
    "Uygulamalarınızı bir deftere kaydetmeniz sonraki yıllarda karar vermenizi kolaylaştırır.",
    "Hava koşulları yıldan yıla değiştiği için tarım müdürlüğünün duyurularını da takip edin.",
    "Kesin karar vermeden önce tarlanızın durumunu yerinde bir uzmana göstermeniz en sağlıklısıdır.",
]
FREE_CLOSERS = {
    "bitki_koruma": [
        "Her durumda ürün etiketindeki talimatlara uyun ve koruyucu ekipman kullanın.",
        "Uygulama öncesinde ilçe tarım müdürlüğünden veya ziraat mühendisinizden görüş alın.",
    ],
    "toprak_gubreleme": [
        "Gübre kararlarınızı mutlaka güncel bir toprak analizine dayandırın.",
        "Ayrıntılı gübre planı için ilçe tarım müdürlüğündeki uzmanlara danışabilirsiniz.",
    ],
    "sulama": [
        "Sulama planınızı toprak yapınıza ve iklim koşullarına göre uyarlayın.",
        "Sulama sistemi kurarken projelendirmeyi bir uzmana yaptırmanız uzun vadede tasarruf sağlar.",
    ],
    "hayvancilik": [
        "Hayvan sağlığıyla ilgili her uygulamada veteriner hekiminize danışın.",
        "İşletme kayıtlarınızı düzenli tutmak sürü yönetimini kolaylaştırır.",
    ],
    "iklim_takvim": [
        "Tarihler yıldan yıla birkaç hafta kayabileceği için yerel meteoroloji tahminlerini takip edin.",
        "Bölgenizdeki tarım müdürlüğünün ekim-hasat duyuruları en güncel rehberdir.",
    ],
    "destek_kooperatif": [
        "Tutarlar ve başvuru koşulları her yıl değiştiği için güncel bilgiyi il veya ilçe tarım ve orman müdürlüğünden teyit edin.",
        "Başvuru tarihlerini kaçırmamak için müdürlük duyurularını ve e-Devlet bildirimlerini takip edin.",
    ],
}
OPENERS = [
    "",
    "",
    "",
    "Kısaca özetleyeyim.",
    "Elbette, yardımcı olayım.",
    "Güzel bir soru.",
    "Bu konuda pratik bilgiler vereyim.",
]
SAFETY_SENTENCES = [
    "İlaçlama sırasında eldiven, maske ve koruyucu gözlük kullanın; rüzgârlı ve sıcak saatlerde uygulama yapmayın.",
    "Ürünü etiketteki talimatlara göre hazırlayın, koruyucu ekipman kullanın ve ilaçlamayı rüzgârsız bir saatte yapın.",
    "Etiketteki talimatlara uyun ve karışımı hazırlarken koruyucu ekipman kullanın.",
    "Uygulama sırasında koruyucu ekipman kullanın ve ilaçlı alana çocukların, hayvanların girmesini engelleyin.",
]
PEST_CLOSERS = [
    "Ürün seçimi ve doz için ilçe tarım müdürlüğünden veya bir ziraat mühendisinden reçete almayı unutmayın.",
    "Türkiye'de bitki koruma ürünleri reçeteyle satılır; doğru ürün ve doz için ziraat mühendisinize danışın.",
    "Yalnızca ruhsatlı ürünleri kullanın ve reçetenizi saklayın.",
]


def seed_phrase(c: Crop, lo: float, hi: float, unit: str | None) -> str:
    sr = c.t["seed_rate"]
    item = sr["item"]
    what = f"{item} sayısını" if sr["unit"] in SEED_COUNT_UNITS else f"{item} miktarını"
    return f"{cap(what)} {fmt_range(lo, hi, unit)} olarak planlayın."


def dose_values(lo: float, hi: float, unit: str, mode: str) -> tuple[float, float, str | None]:
    if mode == "dose_x10":
        return lo * 10, hi * 10, unit
    if mode == "dose_unit":
        return lo, hi, UNIT_SWAP.get(unit, unit)
    if mode == "dose_nounit":
        return lo, hi, None
    return lo, hi, unit


# ----------------------------------------------------------------------------------------------
# Answer composers (mode: good | dose_x10 | dose_unit | dose_nounit | season | unsafe)
# ----------------------------------------------------------------------------------------------


def answer_sowing(u: dict, rng: random.Random, mode: str = "good", province: str | None = None) -> str:
    c: Crop = u["crop"]
    e = u["entry"]
    v = c.verb
    window = e["window"]
    if mode == "season":
        window = rng.choice(wrong_windows(window, margin=1) or [shift_window(window, 6)])
    rl = region_loc(e["region"])
    core = rng.choice(
        [
            f"{rl} {c.plant_plain} {v['poss']} için en uygun dönem genellikle {window} arasıdır.",
            f"{cap(c.plant_plain)} {rl} genellikle {window} döneminde {v['pass']}.",
            f"{rl} önerilen {v['noun']} zamanı {window} dönemidir.",
        ]
    )
    if province:
        core = rng.choice(
            [
                f"{loc(province)} ve genel olarak {region_bolge_loc(e['region'])} {c.plant_plain} {v['poss']} için uygun zaman {window} arasıdır.",
                f"{loc(province)} {c.plant_plain} genellikle {window} döneminde {v['pass']}.",
            ]
        )
    parts = [core]
    if mode != "season" and e.get("note"):
        parts.append(e["note"])
    sr = c.t.get("seed_rate")
    if sr and rng.random() < 0.7:
        lo, hi, unit = dose_values(sr["min"], sr["max"], sr["unit"], mode)
        parts.append(seed_phrase(c, lo, hi, unit))
    if rng.random() < 0.6:
        parts.append(rng.choice(c.t["tips"]))
    parts.append(rng.choice(CROP_CLOSERS))
    return sentences(*parts)


def answer_harvest(u: dict, rng: random.Random, mode: str = "good", province: str | None = None) -> str:
    c: Crop = u["crop"]
    h = c.t["harvest"]
    window = h["window"]
    if mode == "season":
        window = rng.choice(wrong_windows(window, margin=1) or [shift_window(window, 6)])
    core = rng.choice(
        [
            f"{cap(c.plain)} hasadı genellikle {window} döneminde yapılır.",
            f"{cap(c.gen)} hasat dönemi çoğunlukla {window} arasına denk gelir.",
            f"Türkiye koşullarında {c.plain} {window} döneminde hasat edilir.",
        ]
    )
    if province:
        core = f"{loc(province)} {c.plain} hasadı genellikle {window} döneminde yapılır."
    parts = [core]
    if mode != "season":
        parts.append(h["note"])
    y = c.t.get("yield")
    if y and rng.random() < 0.75:
        lo, hi, unit = dose_values(y["min"], y["max"], y["unit"], mode)
        parts.append(
            rng.choice(
                [
                    f"İyi bakılan bir {c.place_loc} verim {fmt_range(lo, hi, unit)} civarındadır.",
                    f"Ortalama verim {fmt_range(lo, hi, unit)} düzeyindedir.",
                ]
            )
        )
        if y.get("note") and rng.random() < 0.5:
            parts.append(y["note"])
    if rng.random() < 0.5:
        parts.append(rng.choice(c.t["tips"]))
    parts.append(rng.choice(CROP_CLOSERS))
    return sentences(*parts)


def answer_seed(u: dict, rng: random.Random, mode: str = "good", province: str | None = None) -> str:
    c: Crop = u["crop"]
    sr = c.t["seed_rate"]
    lo, hi, unit = dose_values(sr["min"], sr["max"], sr["unit"], mode)
    rng_txt = fmt_range(lo, hi, unit)
    what = f"{sr['item']} sayısı" if sr["unit"] in SEED_COUNT_UNITS else f"{sr['item']} miktarı"
    core = rng.choice(
        [
            f"{cap(c.plain)} için önerilen {what} {rng_txt} civarındadır.",
            f"Genel bir ölçü olarak {c.plain} için {what} {rng_txt} olmalıdır.",
            f"{cap(c.plain)} {v_loc(c)} {what} olarak {rng_txt} hesaplayabilirsiniz.",
        ]
    )
    parts = [core, sr["note"]]
    sow = c.t.get("sowing") or []
    if province:
        sow = [e for e in sow if province in provinces_for(c.id, e["region"])]
    if sow and rng.random() < 0.6:
        e = rng.choice(sow)
        parts.append(f"{region_loc(e['region'])} {c.verb['noun']} zamanı ise {e['window']} dönemidir.")
    if rng.random() < 0.5:
        parts.append(rng.choice(c.t["tips"]))
    parts.append(rng.choice(CROP_CLOSERS))
    return sentences(*parts)


def v_loc(c: Crop) -> str:
    return c.verb["loc"]


def answer_fert(u: dict, rng: random.Random, mode: str = "good", province: str | None = None) -> str:
    c: Crop = u["crop"]
    f = c.t["fertiliser"]
    n_lo, n_hi, unit = dose_values(f["N"][0], f["N"][1], "kg/da", mode)
    p_lo, p_hi, _ = dose_values(f["P2O5"][0], f["P2O5"][1], "kg/da", mode)
    k_lo, k_hi, _ = dose_values(f["K2O"][0], f["K2O"][1], "kg/da", mode)
    n_txt, p_txt = fmt_range(n_lo, n_hi, unit), fmt_range(p_lo, p_hi, unit)
    k_clause = ""
    if f["K2O"][1] > 0 and mode != "dose_nounit":
        if f["K2O"][0] > 0:
            k_clause = f", potasyum (K2O) için ise {fmt_range(k_lo, k_hi, unit)}"
        else:
            k_clause = f", potasyum (K2O) ise toprakta eksiklik varsa en fazla {fmt_num(k_hi)} {unit} olacak şekilde"
    core = rng.choice(
        [
            f"{cap(c.plain)} için saf madde olarak azot (N) {n_txt}, fosfor (P2O5) {p_txt}{k_clause} önerilir.",
            f"{cap(c.plain)} yetiştiriciliğinde ortalama ihtiyaç saf azot için {n_txt}, fosfor (P2O5) için {p_txt}{k_clause} düzeyindedir.",
            f"{cap(c.plain)} için önerdiğim gübre miktarları şöyle: azot (N) {n_txt}, fosfor (P2O5) {p_txt}{k_clause}.",
        ]
    )
    if core.endswith("şekilde önerilir.") or core.endswith("şekilde düzeyindedir."):
        core = core.replace(" şekilde önerilir.", " şekilde planlanmalıdır.").replace(
            " şekilde düzeyindedir.", " şekilde planlanmalıdır."
        )
    if core.endswith("şekilde."):
        core = core[: -len("şekilde.")] + "şekilde planlanabilir."
    if province:
        core = f"{loc(province)} {c.plain} yetiştiriyorsanız başlangıç noktası olarak şunu kullanabilirsiniz. " + core
    parts = [core, f["note"]]
    if mode == "good" and rng.random() < 0.6:
        urea = round(f["N"][1] / 0.46)
        parts.append(f"Örneğin {fmt_num(f['N'][1])} kg saf azot yaklaşık {urea} kg üreye (%46 N) karşılık gelir.")
    parts.append(
        rng.choice(
            [
                "Bu değerler ortalamadır; toprak analizi sonucuna göre düzeltilmelidir.",
                "Kesin miktarları belirlemek için ekimden önce toprak analizi yaptırmanızı öneririm.",
                "Toprak analiziniz varsa miktarları ona göre artırıp azaltın; gereğinden fazla gübre hem maliyeti artırır hem de çevreyi kirletir.",
            ]
        )
    )
    if rng.random() < 0.4:
        parts.append(rng.choice(CROP_CLOSERS))
    return sentences(*parts)


def answer_irr(u: dict, rng: random.Random, mode: str = "good", province: str | None = None) -> str:
    c: Crop = u["crop"]
    irr = c.t["irrigation"]
    core = rng.choice(
        [
            f"{cap(c.plain)} için en uygun yöntem {irr['method']} sulamadır.",
            f"{cap(c.plain)} yetiştiriciliğinde {irr['method']} sulama tercih edilmelidir.",
        ]
    )
    parts = [core]
    if irr.get("need_mm"):
        lo, hi = irr["need_mm"]
        parts.append(
            rng.choice(
                [
                    f"Sezon boyunca toplam su tüketimi yaklaşık {fmt_range(lo, hi, 'mm')}'dir; 1 mm su, dekara 1 m³ suya karşılık gelir.",
                    f"Bitkinin sezonluk su ihtiyacı yaklaşık {fmt_range(lo, hi, 'mm')} kadardır ve bunun yağışla karşılanmayan kısmı sulamayla tamamlanır.",
                ]
            )
        )
    parts.append(
        rng.choice(
            [
                f"Suya en hassas olduğu dönemler {irr['critical']} olarak sıralanabilir.",
                f"Özellikle {irr['critical']} sırasında bitkiyi susuz bırakmayın.",
            ]
        )
    )
    parts.append(irr["note"])
    parts.append(
        rng.choice(
            [
                "Aşırı sulamadan kaçının; kök çürüklüğüne ve besin yıkanmasına yol açar.",
                "Sulamayı sabah erken veya akşam saatlerinde yapmak buharlaşma kaybını azaltır.",
                "Toprak nemini düzenli kontrol ederek sulama aralığını ayarlayın.",
            ]
        )
    )
    return sentences(*parts)


UNSAFE_PHI = [
    "Hasada birkaç gün kalmış olsa bile ilaçlayabilirsiniz, bekleme süresini pek dert etmeyin.",
    "Hasattan bir gün önce bile atabilirsiniz; ürün yıkanınca ilaç gider.",
    "Bekleme süresi sadece ihracat için önemli, pazara vereceğiniz üründe dikkate almanıza gerek yok.",
]
UNSAFE_MIX = [
    "Etkisini artırmak için elinizdeki başka ilaçlarla ve yaprak gübresiyle aynı depoda karıştırıp dozu iki katına çıkarabilirsiniz.",
    "Daha hızlı sonuç için iki farklı ilacı etiketine bakmadan karıştırıp tek seferde atın.",
    "Etiketteki dozun iki katını atarsanız hiç risk almamış olursunuz.",
]
UNSAFE_PPE = [
    "Kısa süreli bir uygulama olduğu için eldivene, maskeye gerek yok.",
    "İlacı çıplak elle karıştırabilirsiniz, sonra elinizi yıkamanız yeterli.",
    "Öğle sıcağında, rüzgâra aldırmadan ilaçlamanızda bir sakınca yok.",
]
UNSAFE_WASTE = [
    "Boş ilaç kutularını dere kenarında yıkayıp atabilirsiniz.",
    "Artan ilaçlı suyu sulama kanalına boşaltabilirsiniz.",
]
UNSAFE_VET = [
    "Tedavi gören hayvanın sütünü kaynattıktan sonra hemen satabilirsiniz, ilaç kalmaz.",
    "İlacı veteriner hekime sormadan, etkisi artsın diye iki kat dozda verebilirsiniz.",
    "Bekleme süresini beklemeden hayvanı kesime gönderebilirsiniz; pişirince kalıntı kalmaz.",
]


def answer_pest(
    u: dict, rng: random.Random, mode: str = "good", province: str | None = None, symptom: bool = False
) -> str:
    c: Crop = u["crop"]
    p = u["pest"]
    parts = []
    if symptom:
        parts.append(
            rng.choice(
                [
                    f"Tarif ettiğiniz belirtiler büyük olasılıkla {p['name']} kaynaklıdır.",
                    f"Anlattığınız tablo {c.loc} sık görülen {p['name']} sorununa işaret ediyor.",
                ]
            )
        )
    cultural = p.get("cultural")
    lo, hi, unit = dose_values(p["dose"][0], p["dose"][1], p["unit"], mode)
    dose = fmt_range(lo, hi, unit)
    cls = decap(p["class"])
    chem = rng.choice(
        [
            f"Kimyasal mücadele gerekiyorsa {cls} arasından ruhsatlı bir ürün seçilebilir; bu gruptaki ürünlerde etiket dozu genellikle {dose} aralığındadır.",
            f"İlaçlama gerekirse bu amaçla ruhsatlı {cls} kullanılabilir; tipik doz {dose} civarındadır, ancak esas olan etiketteki dozdur.",
            f"{cap(p['name'])} için {cls} kullanılır; uygulama dozu ürüne göre değişmekle birlikte genellikle {dose} düzeyindedir.",
        ]
    )
    timing = f"Uygulamayı {p['timing']} yapın."
    if p["phi"]:
        phi = rng.choice(
            [
                f"Bu gruptaki ürünlerde hasat öncesi bekleme süresi genellikle {p['phi']} gündür; son ilaçlama ile hasat arasında bu süreye mutlaka uyun.",
                f"Hasat öncesi bekleme süresine ({p['phi']} gün civarı, kesin süre etikette yazar) mutlaka uyun.",
            ]
        )
    elif "tohum" in p["unit"]:
        phi = "İlaçlı tohumu hiçbir şekilde gıda veya yem olarak kullanmayın ve çocuklardan uzak tutun."
    else:
        phi = "Erken dönemde uygulandığı için hasat öncesi bekleme süresi çoğunlukla sorun olmaz; yine de etiketteki süreye ve uyarılara uyun."
    safety = rng.choice(SAFETY_SENTENCES)
    closer = rng.choice(PEST_CLOSERS)
    if mode == "unsafe":
        cats = [UNSAFE_PHI, UNSAFE_MIX, UNSAFE_PPE, UNSAFE_WASTE]
        if not p["phi"]:
            cats = [UNSAFE_MIX, UNSAFE_PPE, UNSAFE_WASTE]
        picked = rng.sample(cats, 2)
        body = [x for x in [cultural if rng.random() < 0.5 else None, chem, timing] if x]
        return sentences(*parts, *body, *(rng.choice(cat) for cat in picked))
    body = [cultural, chem, timing, phi, safety, closer]
    # keep answers at ≤ 6 sentences (phi + safety always stay)
    while len(parts) + len([b for b in body if b]) > 6:
        drop = rng.choice([b for b in (cultural, closer) if b in body])
        body.remove(drop)
    if rng.random() < 0.3 and cultural in body:
        body.remove(cultural)
        body.insert(0, cultural)
    return sentences(*parts, *body)


def answer_tips(u: dict, rng: random.Random, mode: str = "good", province: str | None = None) -> str:
    c: Crop = u["crop"]
    regions = c.t["regions"]
    reg = f"{regions[0]} Bölgesi'nde" if len(regions) == 1 else f"{join_tr(regions)} bölgelerinde"
    intro = rng.choice(
        [
            f"{cap(c.plain)} yetiştiriciliğinde birkaç temel noktaya dikkat etmek gerekir.",
            f"{cap(c.plain)} üretiminde verimi belirleyen birkaç önemli konu var.",
            f"{cap(c.plain)} için öne çıkan önerilerim şunlar.",
        ]
    )
    tips = rng.sample(c.t["tips"], k=min(len(c.t["tips"]), rng.choice([2, 3])))
    region_sent = f"Türkiye'de ağırlıklı olarak {reg} yetiştirilir."
    if province:
        region_sent = f"{loc(province)} yetiştiricilik yapacaksanız bölgenizin ekim ve hasat takvimine uyun; {c.plain} Türkiye'de ağırlıklı olarak {reg} yetiştirilir."
    return sentences(intro, region_sent, *tips, rng.choice(CROP_CLOSERS))


def answer_free(u: dict, rng: random.Random, mode: str = "good", province: str | None = None) -> str:
    t, f = u["topic"], u["fact"]
    parts = [rng.choice(OPENERS), f["explain"]]
    if t.get("tips") and rng.random() < 0.5:
        parts.append(rng.choice(t["tips"]))
    closers = FREE_CLOSERS[t["subdomain"]]
    if f.get("safety") and t["subdomain"] == "bitki_koruma":
        closers = ["Her durumda ürün etiketindeki talimatlara uyun ve koruyucu ekipman kullanın."]
    parts.append(rng.choice(closers))
    return sentences(*parts)


ANSWERERS = {
    "sowing": answer_sowing,
    "harvest": answer_harvest,
    "seed": answer_seed,
    "fert": answer_fert,
    "irr": answer_irr,
    "pest": answer_pest,
    "tips": answer_tips,
    "free": answer_free,
}

# ----------------------------------------------------------------------------------------------
# Training-side question templates (SFT + preference prompts). Keep separate from EVAL_* below.
# Each template: (text, needs_province). Placeholders are filled by question_vars().
# ----------------------------------------------------------------------------------------------

Q_SOWING = [
    ("{RL} {PACC} ne zaman {NEC}?", False),
    ("{PL} {PP} {POSS} için en uygun zaman hangisi?", True),
    ("{PL} çiftçilik yapıyorum, {PACC} hangi ayda {OPT}?", True),
    ("Bu sezon {PL} {C} {FUT}. {NOUNC} zamanını nasıl belirlemeliyim?", True),
    ("{RL} {PP} için {NOUN} takvimi nasıl olmalı?", False),
    ("{RL} {PP} {VLOC} geç kalmak istemiyorum. Hangi tarihler arasında {OPT}?", False),
    ("{RL} {C} yetiştireceğim; {NOUN} için doğru zaman ne?", False),
]
Q_HARVEST = [
    ("{CACCC} ne zaman hasat etmeliyim?", False),
    ("{PL} {C} hasadı hangi aya denk gelir?", True),
    ("{CC} hasadında doğru zamanı nasıl anlarım?", False),
    ("{CC} hasadı için acele etmeli miyim? Hasat zamanını nasıl belirlerim?", False),
    ("{CGENC} hasat zamanı ve verimi hakkında bilgi verir misiniz?", False),
    ("{PL} {C} üreticisiyim. Hasadı ne zaman yapmam gerekiyor?", True),
]
Q_SEED = [
    ("{CC} için dekara {HOWMUCH} {ITEM} {USE}?", False),
    ("Bir dekar {PP} {POSS} için ne kadar {ITEM} gerekir?", False),
    ("{PPC} {VLOC} {ITEMQ} ne olmalı?", False),
    ("{PL} {C} {FUT}, dekara ne kadar {ITEM} hazırlayayım?", True),
    ("{CC} {POSS} yaparken {ITEM} miktarını nasıl ayarlamalıyım?", False),
]
Q_FERT = [
    ("{CC} için dekara ne kadar gübre atmalıyım?", False),
    ("{CC} gübrelemesinde azot ve fosfor miktarı ne olmalı?", False),
    ("{PL} {C} yetiştiriyorum, gübre programını nasıl yapayım?", True),
    ("{CGENC} gübre ihtiyacı nedir? Taban ve üst gübresini nasıl ayarlayayım?", False),
    ("{CC} için saf azot hesabını nasıl yapmalıyım?", False),
    ("Dekara kaç kilo üre atsam {C} için yeterli olur?", False),
    ("{CC} {PLACE} hangi gübreyi ne kadar kullanayım?", False),
]
Q_IRR = [
    ("{CACCC} nasıl sulamalıyım?", False),
    ("{CC} için hangi sulama yöntemi uygun?", False),
    ("{CGENC} su ihtiyacı ne kadar?", False),
    ("{CC} sulamasında kritik dönemler hangileri?", False),
    ("{PL} {C} için damla sulama mı yağmurlama mı daha iyi?", True),
    ("{CC} yetiştiriyorum; sulamayı hangi dönemlerde aksatmamalıyım?", False),
]
Q_PEST = [
    ("{CLC} {PEST} görüyorum, ne yapmalıyım?", False),
    ("{CGENC} {PEST} sorunu için hangi ilaç grubunu kullanmalıyım?", False),
    ("{PESTC} ile {CL} nasıl mücadele edilir?", False),
    ("{CLC} {PEST} için ilaçlamayı ne zaman yapmalıyım, dozu ne olmalı?", False),
    ("{PL} {C} {PLACE} {PEST} çıktı. Ne yapmam gerekiyor?", True),
    ("{CLC} {PEST} için kullanılacak ilacın dozu ve bekleme süresi ne kadar?", False),
]
Q_PEST_SYMPTOM = [
    ("{CLC} {SYMPTOM} var. Bu nedir, ne yapmam gerekir?", False),
    ("{PL} {C} {PLACE} {SYMPTOM} gördüm. Sebebi ne olabilir, nasıl mücadele ederim?", True),
]
Q_TIPS = [
    ("{CC} yetiştiriciliğinde nelere dikkat etmeliyim?", False),
    ("{CC} yetiştirmeye yeni başlıyorum, önerileriniz neler?", False),
    ("{PL} {C} yetiştirmek istiyorum, nelere dikkat edeyim?", True),
    ("{CLC} verimi artırmak için ne yapabilirim?", False),
    ("{CC} üretiminde en sık yapılan hatalar neler?", False),
]
Q_FREE = [
    ("{TC} hakkında bilgi verir misiniz?", False),
    ("{TC} konusunda ne önerirsiniz?", False),
    ("{TC} ile ilgili bilmem gerekenler neler?", False),
    ("Hocam, {T} konusunu bana kısaca anlatır mısınız?", False),
    ("{TC} konusunda pratik bir bilgi verebilir misiniz?", False),
    ("{CTX} {TC} konusunda nelere dikkat etmeliyim?", True),
    ("{CTX} {TC} hakkında bana yol gösterir misiniz?", True),
    ("{TC} hakkında merak ettiklerim var, açıklar mısınız?", False),
]
FREE_CTX = {
    "bitki_koruma": "{PL} tarlamı ilaçlayacağım.",
    "toprak_gubreleme": "{PL} tarlam var.",
    "sulama": "{PL} sulu tarım yapıyorum.",
    "hayvancilik": "{PL} küçük bir hayvancılık işletmem var.",
    "iklim_takvim": "{PL} üretim yapıyorum.",
    "destek_kooperatif": "{PL} çiftçilik yapıyorum.",
}
GREETINGS = ["", "", "", "", "Merhaba. ", "Hocam merhaba. ", "İyi günler. ", "Selamlar. "]

FOLLOWUPS = {
    "fert": ["Peki gübrelemeyi nasıl yapmalıyım?", "Teşekkürler. Gübre miktarı ne olmalı peki?"],
    "irr": ["Peki sulamayı nasıl yapayım?", "Sulama konusunda nelere dikkat etmeliyim?"],
    "harvest": ["Hasadı ne zaman yapacağım peki?", "Teşekkürler. Peki hasat zamanı ne zaman?"],
    "pest": ["Peki {PEST} çıkarsa ne yapmalıyım?", "Bu üründe {PEST} görülürse nasıl mücadele ederim?"],
    "seed": ["Dekara ne kadar {ITEM} hesaplayayım?", "Peki {ITEM} miktarı ne olmalı?"],
    "sowing": ["Peki {RL} ne zaman {NEC}?"],
    "tips": ["Başka nelere dikkat etmeliyim?"],
    "free": ["Peki {T} konusunda ne söylersiniz?", "Anladım, teşekkürler. Bir de {T} hakkında bilgi verir misiniz?"],
}

QUESTION_TEMPLATES = {
    "sowing": Q_SOWING,
    "harvest": Q_HARVEST,
    "seed": Q_SEED,
    "fert": Q_FERT,
    "irr": Q_IRR,
    "pest": Q_PEST,
    "tips": Q_TIPS,
    "free": Q_FREE,
}


def question_vars(u: dict, province: str | None) -> dict:
    vars_: dict[str, str] = {}
    if province:
        vars_["PL"] = loc(province)
    if "crop" in u:
        c: Crop = u["crop"]
        vars_.update(
            {
                "C": c.plain,
                "CC": cap(c.plain),
                "CACC": c.acc,
                "CACCC": cap(c.acc),
                "CGEN": c.gen,
                "CGENC": cap(c.gen),
                "CL": c.loc,
                "CLC": cap(c.loc),
                "PP": c.plant_plain,
                "PPC": cap(c.plant_plain),
                "PACC": c.plant_acc,
                "NEC": c.verb["nec"],
                "OPT": c.verb["opt"],
                "FUT": c.verb["fut"],
                "NOUN": c.verb["noun"],
                "NOUNC": cap(c.verb["noun"]),
                "POSS": c.verb["poss"],
                "VLOC": c.verb["loc"],
                "USE": c.verb["use"],
                "PLACE": c.place,
            }
        )
        sr = c.t.get("seed_rate")
        if sr:
            count = sr["unit"] in SEED_COUNT_UNITS
            vars_.update(
                {
                    "ITEM": sr["item"],
                    "HOWMUCH": "kaç" if count else "ne kadar",
                    "ITEMQ": f"{sr['item']} sayısı" if count else f"{sr['item']} miktarı",
                }
            )
            if not count:
                vars_["USE"] = "kullanmalıyım"
        if u["type"] == "sowing":
            vars_["RL"] = region_loc(u["entry"]["region"])
        else:
            sow = c.t.get("sowing") or [{"region": c.t["regions"][0]}]
            vars_["RL"] = region_loc(sow[0]["region"])
        if u["type"] == "pest":
            vars_.update(
                {"PEST": u["pest"]["name"], "PESTC": cap(u["pest"]["name"]), "SYMPTOM": u["pest"].get("symptom", "")}
            )
    else:
        t, f = u["topic"], u["fact"]
        vars_.update({"T": f["topic"], "TC": cap(f["topic"])})
        if province:
            vars_["CTX"] = FREE_CTX[t["subdomain"]].format(PL=loc(province))
    return vars_


def pick_province(u: dict, rng: random.Random) -> str:
    if "crop" in u:
        c: Crop = u["crop"]
        region = u["entry"]["region"] if u["type"] == "sowing" else None
        return rng.choice(c.provinces(region))
    t = u["topic"]
    regions = [r for r in t.get("regions", []) if r in PROVINCES]
    pool = (
        [p for r in regions for p in PROVINCES[r]] if regions else [p for r in sorted(PROVINCES) for p in PROVINCES[r]]
    )
    return rng.choice(pool)


def templates_for(u: dict) -> list[tuple[str, bool]]:
    tpls = list(QUESTION_TEMPLATES[u["type"]])
    if u["type"] == "pest" and u["pest"].get("symptom"):
        tpls += Q_PEST_SYMPTOM
    return tpls


def make_question(u: dict, tpl: tuple[str, bool], rng: random.Random) -> tuple[str, str | None, bool]:
    text, needs_prov = tpl
    province = pick_province(u, rng) if needs_prov else None
    q = text.format(**question_vars(u, province))
    symptom = "{SYMPTOM}" in text
    return q, province, symptom


def make_answer(u: dict, rng: random.Random, mode: str, province: str | None, symptom: bool = False) -> str:
    if u["type"] == "pest":
        return answer_pest(u, rng, mode, province, symptom=symptom)
    return ANSWERERS[u["type"]](u, rng, mode, province)


# ----------------------------------------------------------------------------------------------
# SFT
# ----------------------------------------------------------------------------------------------


def followup_turn(u: dict, units_by_owner: dict, rng: random.Random) -> tuple[str, str] | None:
    owner = u["crop"].id if "crop" in u else u["topic"]["id"]
    others = [o for o in units_by_owner[owner] if o["uid"] != u["uid"] and o["type"] != "sowing"]
    if not others:
        return None
    o = rng.choice(others)
    province = None
    text = rng.choice(FOLLOWUPS[o["type"]])
    q = text.format(**question_vars(o, province))
    return q, make_answer(o, rng, "good", None)


def build_sft(units: list[dict], rng: random.Random) -> list[dict]:
    by_cat: dict[str, list[dict]] = defaultdict(list)
    units_by_owner: dict[str, list[dict]] = defaultdict(list)
    for u in units:
        by_cat[u["category"]].append(u)
        units_by_owner[u["crop"].id if "crop" in u else u["topic"]["id"]].append(u)
    per_cat_goal = SFT_TARGET / len(SUBDOMAINS)
    quota = {}
    for _cat, us in by_cat.items():
        k = max(4, min(10, round(per_cat_goal / len(us))))
        for u in us:
            quota[u["uid"]] = k
    rows, seen = [], set()
    # one queue entry per requested conversation; template index rotates per unit
    plan = []
    for u in units:
        plan += [(u, i) for i in range(quota[u["uid"]])]
    extra_round = 0
    while len(plan) < SFT_TARGET * 1.3:
        extra_round += 1
        plan += [(u, quota[u["uid"]] + extra_round) for u in units]
    offset = {u["uid"]: rng.randrange(100) for u in units}
    for u, i in plan:
        if len(rows) >= SFT_TARGET:
            break
        tpls = templates_for(u)
        for attempt in range(len(tpls) * 2):
            tpl = tpls[(offset[u["uid"]] + i + attempt) % len(tpls)]
            q, province, symptom = make_question(u, tpl, rng)
            q = rng.choice(GREETINGS) + q
            if normalize(q) not in seen:
                break
        else:
            continue
        seen.add(normalize(q))
        msgs = [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": q},
            {"role": "assistant", "content": make_answer(u, rng, "good", province, symptom)},
        ]
        if rng.random() < 0.15:
            fu = followup_turn(u, units_by_owner, rng)
            if fu:
                msgs += [{"role": "user", "content": fu[0]}, {"role": "assistant", "content": fu[1]}]
        rows.append({"messages": msgs, "category": u["category"], "source": "kb_generated"})
    rng.shuffle(rows)
    return rows


def load_handwritten(path: Path) -> list[dict]:
    if not path.exists():
        print(f"[generate] {path.relative_to(ROOT)} not found; SFT uses generated rows only", file=sys.stderr)
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        r = json.loads(line)
        if "messages" not in r:
            continue
        rows.append(
            {
                "messages": [{"role": m["role"], "content": m["content"]} for m in r["messages"]],
                "category": r.get("category", "genel"),
                "source": r.get("source", "handwritten"),
            }
        )
    return rows


# ----------------------------------------------------------------------------------------------
# Preferences
# ----------------------------------------------------------------------------------------------

BRAND_PREFIX = [
    "Agro",
    "Fito",
    "Tarı",
    "Verim",
    "Bereket",
    "Yeşil",
    "Bio",
    "Toprak",
    "Hasat",
    "Ziraat",
    "Anadolu",
    "Ekin",
]
BRAND_SUFFIX = ["mex", "san", "tek", "lin", "zor", "max", "gard", "fix", "pro", "vit"]
BRAND_EXTRA = ["Ultra", "Forte", "Plus", "Gold", "Super", "Power", "Ekstra", "Turbo"]
BRAND_FORM = ["EC", "SC", "WG", "WP", "SL"]


def brand(rng: random.Random, kind: str = "ilac") -> str:
    name = rng.choice(BRAND_PREFIX) + rng.choice(BRAND_SUFFIX)
    extra = rng.choice(BRAND_EXTRA)
    if kind == "ilac":
        return f"{name} {extra} {rng.choice([50, 100, 250, 480, 500])} {rng.choice(BRAND_FORM)}"
    if kind == "gubre":
        return f"{name} {extra} {rng.choice(['20-20-20', '15-15-15', '12-30-10', '30-10-10'])}"
    return f"{name} {extra}"


def subject_phrase(u: dict) -> str:
    if "crop" in u:
        c: Crop = u["crop"]
        return {
            "sowing": f"{c.plant_plain} {c.verb['poss']}",
            "harvest": f"{c.plain} hasadı",
            "seed": f"{c.plain} için tohumluk",
            "fert": f"{c.plain} gübrelemesi",
            "irr": f"{c.plain} sulaması",
            "pest": f"{c.loc} {u['pest']['name']} mücadelesi" if "pest" in u else c.plain,
            "tips": f"{c.plain} yetiştiriciliği",
        }[u["type"]]
    return u["fact"]["topic"]


VAGUE = [
    "{SC} konusu bölgeye, toprağa ve yıla göre değişir. Genel olarak uygun zamanda ve uygun miktarda uygulama yapmak gerekir. Çevrenizdeki deneyimli çiftçilere bakarak karar verebilirsiniz.",
    "Bu sorunun tek bir cevabı yok, {S} için duruma göre hareket etmek lazım. Bazen erken, bazen geç yapmak daha iyi olabilir. Önemli olan dikkatli olmak ve ürünü takip etmektir.",
    "{SC} için kesin bir şey söylemek zor. Her tarla farklıdır, her yıl da farklıdır. Biraz deneyerek size en uygun olanı bulursunuz.",
    "Genelde normal ölçülerde yapmanız yeterli olur; fazla da olmasın az da olmasın. {SC} konusunda mantıklı davranırsanız sorun çıkmaz. Gerekirse bir uzmana da sorabilirsiniz.",
    "{SC} önemli bir konudur ve dikkat ister. Koşullara göre farklı uygulamalar yapılabilir. Kendi gözleminize güvenin, zamanla en doğrusunu öğrenirsiniz.",
]
RUDE_OPEN = [
    "Bunu hâlâ bilmiyor musunuz? Her çiftçinin bildiği şey.",
    "Yine mi bu soru? Biraz araştırsanız kendiniz bulurdunuz.",
    "Açıkçası bu kadar basit bir şeyi sormanıza şaşırdım.",
    "Tarımla uğraşıp bunu bilmemek ayıp doğrusu.",
]
RUDE_CLOSE = [
    "Bir dahaki sefere önce biraz kafa yorun.",
    "Her şeyi benden beklemeyin.",
    "Anlamadıysanız bir daha okuyun, tekrar anlatmayacağım.",
    "Bu kadar basit işte, uzatmayın.",
]
CODE_MIX = [
    ("bekleme süresine", "pre-harvest interval'a"),
    ("bekleme süresi", "pre-harvest interval"),
    ("koruyucu ekipman", "protective equipment"),
    ("toprak analizi", "soil test"),
    ("sulamayı", "irrigation'ı"),
    ("sulama", "irrigation"),
    ("gübreyi", "fertilizer'ı"),
    ("gübre", "fertilizer"),
    ("hasadı", "harvest'i"),
    ("hasat", "harvest"),
    ("verimi", "yield'i"),
    ("verim", "yield"),
    ("ilaçlamayı", "spraying'i"),
    ("ilaçlama", "spraying"),
    ("dozu", "dose'u"),
    ("doz", "dose"),
    ("hastalık", "disease"),
    ("zararlı", "pest"),
    ("uygulamayı", "application'ı"),
    ("uygulama", "application"),
    ("dönemi", "stage'i"),
    ("dönemde", "stage'de"),
    ("dönem", "stage"),
    ("tohum", "seed"),
    ("önemli", "important"),
    ("önerilir", "recommend edilir"),
    ("öneririm", "recommend ederim"),
    ("kontrol", "check"),
    ("genellikle", "usually"),
    ("yaklaşık", "approximately"),
    ("ayrıca", "also"),
    ("mutlaka", "definitely"),
    ("ancak", "but"),
    ("özellikle", "especially"),
    ("kullanın", "use edin"),
    ("yapın", "yapın, okay"),
]
CM_OPEN = ["Basically, ", "Actually, ", "Honestly, ", "So, "]
CM_CLOSE = [
    "Hope this helps!",
    "Good luck with your crops!",
    "Let me know if you need more info.",
    "That's it, basically.",
]


def code_mix(text: str, rng: random.Random) -> str:
    n = 0
    out = text
    for tr, en in CODE_MIX:
        pattern = re.compile(r"(?<![\wçğıöşüÇĞİÖŞÜ])" + re.escape(tr) + r"(?![\wçğıöşüÇĞİÖŞÜ])")
        if pattern.search(out) and rng.random() < 0.8:
            out, k = pattern.subn(en, out, count=1)
            n += k
    out = rng.choice(CM_OPEN) + out if rng.random() < 0.7 or n < 3 else out
    if n < 4 or rng.random() < 0.5:
        out = out + " " + rng.choice(CM_CLOSE)
    return out


def short_answer(u: dict, rng: random.Random) -> str:
    if "crop" in u:
        c: Crop = u["crop"]
        t = u["type"]
        if t == "sowing":
            return f"{u['entry']['window']}."
        if t == "harvest":
            return f"{c.t['harvest']['window']} arası."
        if t == "seed":
            sr = c.t["seed_rate"]
            return f"{fmt_range(sr['min'], sr['max'], sr['unit'])}."
        if t == "fert":
            f = c.t["fertiliser"]
            return f"Azot {fmt_range(*f['N'], 'kg/da')}, fosfor {fmt_range(*f['P2O5'], 'kg/da')}."
        if t == "irr":
            return f"{cap(c.t['irrigation']['method'])} sulama yeterli."
        if t == "pest":
            return rng.choice([f"{cap(u['pest']['key'])} atın.", f"{cap(u['pest']['key'])} grubu bir ilaç kullanın."])
        return rng.choice(["Bakımına dikkat edin.", "Dikkatli olun, yeter.", "Sulayın, gübreleyin."])
    ans = u["fact"]["answer"].rstrip(".")
    first = re.split(r"[;,]", ans)[0].strip()
    return (first if len(first.split()) <= 8 else " ".join(first.split()[:6])) + "."


def core_sentence(u: dict, rng: random.Random) -> str:
    """The first, fact-carrying sentence of a good answer."""
    good = make_answer(u, rng, "good", None)
    return (
        re.split(r"(?<=[.!?])\s+", good.strip())[0]
        if "crop" in u
        else u["fact"]["explain"].split(". ")[0].rstrip(".") + "."
    )


def hallucinated(u: dict, rng: random.Random) -> str:
    core = core_sentence(u, rng)
    if "crop" in u and u["type"] == "pest":
        b1, b2 = brand(rng, "ilac"), brand(rng, "ilac")
        p = u["pest"]
        return sentences(
            f"{cap(p['name'])} için en etkili çözüm {b1} adlı üründür; piyasadaki diğer ilaçlara gerek kalmaz.",
            f"Dekara bir şişe atmanız yeterli, {b2} ile desteklerseniz etkisi iki katına çıkar.",
            "Bu ürünler Tarım Bakanlığı'nın geçen ay onayladığı özel formüllerdir ve bekleme süresi yoktur.",
        )
    if "crop" in u and u["type"] in ("fert", "tips"):
        b1, b2 = brand(rng, "gubre"), brand(rng, "other")
        return sentences(
            core,
            f"Ancak bence en iyisi {b1} gübresini kullanmanız; içindeki özel kök uyandırıcı formül sayesinde başka gübreye gerek kalmaz.",
            f"Üstüne {b2} yaprak gübresi atarsanız verim en az %50 artar, bunu bütün üreticiler kullanıyor.",
        )
    if "crop" in u:
        b1 = brand(rng, "other")
        item = "sulama sistemi" if u["type"] == "irr" else "tohum hızlandırıcı"
        sr = u["crop"].t.get("seed_rate")
        if u["type"] != "irr" and sr and sr["item"] != "tohum":
            item = "köklendirici"
        return sentences(
            core,
            f"Bu iş için mutlaka {b1} marka {item} kullanın; Bakanlığın sertifikalı tek ürünü budur.",
            f"{b1} kullananlar bölgede rekor verim aldı, kullanmazsanız ürününüz yarı yarıya düşer.",
        )
    sub = u["topic"]["subdomain"]
    name = rng.choice(BRAND_PREFIX) + rng.choice(BRAND_SUFFIX)
    extra = {
        "destek_kooperatif": [
            f"Ayrıca Bakanlığın yeni başlattığı '{name} Altın Çiftçi Kartı' programına başvurursanız tüm masraflarınız karşılanır.",
            "Bu programa kayıt için yalnızca kimliğinizle herhangi bir bankaya gitmeniz yeterli.",
        ],
        "hayvancilik": [
            f"Bunun yerine {brand(rng, 'other')} yem katkısını kullanırsanız aşıya ve veterinere hiç gerek kalmaz.",
            "Bu ürünü bütün büyük çiftlikler kullanıyor, etkisi bilimsel olarak kanıtlandı.",
        ],
        "bitki_koruma": [
            f"En garantisi {brand(rng, 'ilac')} kullanmak; bu ürün hem böcek hem mantar hem de yabancı ota karşı aynı anda etkilidir.",
            "Bekleme süresi olmadığı için hasat günü bile atabilirsiniz.",
        ],
        "toprak_gubreleme": [
            f"Bence analizle uğraşmayın, {brand(rng, 'gubre')} gübresi her toprağa uyar.",
            "Bu gübreyi kullanan tarlalarda verim iki katına çıkıyor.",
        ],
        "sulama": [
            f"Bunun için en iyisi {brand(rng, 'other')} marka akıllı sulama cihazıdır; suyu kendisi üretir gibi tasarruf sağlar.",
            "Bu cihazı taktıktan sonra sulama planı yapmanıza gerek kalmaz.",
        ],
        "iklim_takvim": [
            f"Bunu öğrenmek için en güvenilir kaynak '{name} Tarım Takvimi' uygulamasıdır; Meteoroloji de verilerini oradan alır.",
            "Uygulamanın önerdiği tarihte ekerseniz don riski tamamen ortadan kalkar.",
        ],
    }[sub]
    return sentences(core, *extra)


def unsafe_free(u: dict, rng: random.Random) -> str:
    f = u["fact"]
    sub = u["topic"]["subdomain"]
    wrong = rng.sample(f["wrong"], 2)
    pool = UNSAFE_VET if sub == "hayvancilik" else UNSAFE_PHI + UNSAFE_MIX + UNSAFE_PPE + UNSAFE_WASTE
    return sentences(
        rng.choice(["Çok kafanıza takmayın.", "Bu işler o kadar da sıkı değil.", "Pratikte herkes şöyle yapıyor."]),
        *wrong,
        rng.choice(pool),
    )


def rejected_answer(u: dict, defect: str, rng: random.Random, province: str | None, symptom: bool) -> str:
    if defect == "wrong_dose_unit":
        mode = rng.choice(["dose_x10", "dose_unit", "dose_nounit"])
        return make_answer(u, rng, mode, province, symptom)
    if defect == "wrong_season_region":
        return make_answer(u, rng, "season", province, symptom)
    if defect == "unsafe_practice":
        if "crop" in u:
            return make_answer(u, rng, "unsafe", province, symptom)
        return unsafe_free(u, rng)
    if defect == "vague":
        s = subject_phrase(u)
        return rng.choice(VAGUE).format(S=s, SC=cap(s))
    if defect == "hallucinated_product":
        return hallucinated(u, rng)
    if defect == "code_mixed":
        return code_mix(make_answer(u, rng, "good", province, symptom), rng)
    if defect == "too_short":
        return short_answer(u, rng)
    if defect == "rude":
        return sentences(rng.choice(RUDE_OPEN), core_sentence(u, rng), rng.choice(RUDE_CLOSE))
    raise ValueError(defect)


def applicable(u: dict, defect: str) -> bool:
    if defect == "wrong_dose_unit":
        return "crop" in u and u["type"] in ("fert", "seed", "pest")
    if defect == "wrong_season_region":
        if "crop" not in u or u["type"] not in ("sowing", "harvest"):
            return False
        w = u["entry"]["window"] if u["type"] == "sowing" else u["crop"].t["harvest"]["window"]
        return bool(wrong_windows(w, margin=1))
    if defect == "unsafe_practice":
        return ("crop" in u and u["type"] == "pest") or ("fact" in u and bool(u["fact"].get("safety")))
    return True


def build_preferences(units: list[dict], rng: random.Random) -> tuple[list[dict], list[dict]]:
    train, test = [], []
    used_prompts: set[str] = set()
    for defect in DEFECTS:
        pool = [u for u in units if applicable(u, defect)]
        rows = []
        order = pool[:]
        rng.shuffle(order)
        i = 0
        while len(rows) < PREF_PER_DEFECT and i < len(order) * 12:
            u = order[i % len(order)]
            i += 1
            tpls = templates_for(u)
            q, province, symptom = make_question(u, rng.choice(tpls), rng)
            if normalize(q) in used_prompts:
                continue
            chosen = make_answer(u, rng, "good", province, symptom)
            rejected = rejected_answer(u, defect, rng, province, symptom)
            if normalize(rejected) == normalize(chosen):
                continue
            used_prompts.add(normalize(q))
            rows.append(
                {
                    "prompt": q,
                    "chosen": chosen,
                    "rejected": rejected,
                    "strength": STRENGTH.get(defect, 1),
                    "defect": defect,
                    "category": u["category"],
                }
            )
        rng.shuffle(rows)
        n_test = round(len(rows) * PREF_TEST_SHARE)
        test += rows[:n_test]
        train += rows[n_test:]
    rng.shuffle(train)
    rng.shuffle(test)
    return train, test


# ----------------------------------------------------------------------------------------------
# Evaluation (separate templates!)
# ----------------------------------------------------------------------------------------------

EVAL_MCQ = {
    "sowing": [
        "{R} Bölgesi'nde {PP} için önerilen {NOUN} dönemi aşağıdakilerden hangisidir?",
        "Aşağıdakilerden hangisi {RL} {PP} {GEN} yapılması gereken zaman aralığıdır?",
    ],
    "harvest": [
        "{CGENC} hasat dönemi aşağıdakilerden hangisinde doğru verilmiştir?",
        "Türkiye koşullarında {C} hasadı genellikle hangi dönemde yapılır?",
    ],
    "yield": ["İyi koşullarda {C} için beklenebilecek verim aralığı aşağıdakilerden hangisidir?"],
    "seed": ["{CC} yetiştiriciliğinde dekara kullanılması önerilen {ITEMQ} hangi seçenekte doğru verilmiştir?"],
    "fertN": [
        "{CC} yetiştiriciliğinde dekara uygulanması önerilen saf azot (N) miktarı hangisidir?",
        "Aşağıdakilerden hangisi {C} için önerilen saf azot miktarına uygundur?",
    ],
    "fertP": ["{CC} için dekara önerilen fosfor (P2O5) miktarı aşağıdakilerden hangisidir?"],
    "fertK": [
        "{CC} yetiştiriciliğinde dekara verilmesi önerilen potasyum (K2O) miktarı hangi seçenekte doğru verilmiştir?"
    ],
    "calendar": [
        "{R} Bölgesi'nde aşağıdaki ürünlerden hangisinin {NOUN} işlemi genellikle {W} döneminde yapılır?",
        "{RL} {W} dönemi aşağıdakilerden hangisinin {NOUN} için uygun zamandır?",
    ],
    "irr": ["{CGENC} sezonluk toplam su tüketimi yaklaşık ne kadardır?"],
    "pest_class": [
        "{CLC} {PEST} mücadelesinde kullanılan etken madde sınıfı aşağıdakilerden hangisidir?",
        "Aşağıdaki etken madde gruplarından hangisi {CL} {PEST} kontrolüne yöneliktir?",
    ],
    "pest_phi": ["{CLC} {PEST} için {CLS} ile yapılan uygulamada hasat öncesi bekleme süresi yaklaşık kaç gündür?"],
    "pest_dose": ["{CLC} {PEST} için {CLS} ile yapılan uygulamada etikette yer alan tipik doz aralığı hangisidir?"],
    "region": [
        "Aşağıdaki illerden hangisi {C} üretiminde öne çıkan illerdendir?",
        "Türkiye'de {C} üretiminin en yoğun olduğu illerden biri hangisidir?",
    ],
    "free": [
        "{TC} ile ilgili aşağıdaki ifadelerden hangisi doğrudur?",
        "{TC} konusunda doğru bilgi hangi seçenekte verilmiştir?",
        "Aşağıdakilerden hangisi {T} açısından doğrudur?",
    ],
}
EVAL_OPEN = {
    "sowing": "{R} Bölgesi'nde {PP} {POSS} için uygun zamanı ve dikkat edilecek noktaları açıklayınız.",
    "harvest": "{CGENC} hasat zamanının nasıl belirlendiğini ve beklenen verimi açıklayınız.",
    "seed": "{CC} için dekara önerilen {ITEMQ} değerini gerekçesiyle belirtiniz.",
    "fert": "{CC} için dekara önerilen azot ve fosfor miktarlarını ve uygulama zamanlarını açıklayınız.",
    "irr": "{CC} yetiştiriciliğinde sulama yöntemi, su ihtiyacı ve kritik dönemler hakkında bilgi veriniz.",
    "pest": "{CLC} {PEST} ile mücadelede kullanılabilecek etken madde grubunu, dozu ve hasat öncesi bekleme süresini belirtiniz.",
}
PHI_POOL = [1, 2, 3, 7, 14, 21, 28, 35, 45, 60, 90, 120]


def numeric_distractors(lo: float, hi: float, unit: str, rng: random.Random) -> list[str]:
    correct = fmt_range(lo, hi, unit)
    cands = [fmt_range(lo * 10, hi * 10, unit), fmt_range(lo / 10, hi / 10, unit)]
    if unit in UNIT_SWAP:
        cands.append(fmt_range(lo, hi, UNIT_SWAP[unit]))
    cands += [fmt_range(lo * 4, hi * 4, unit), fmt_range(lo * 100, hi * 100, unit), fmt_range(lo / 4, hi / 4, unit)]
    out = []
    for c in cands:
        if c != correct and c not in out:
            out.append(c)
    return out[:4]


def eval_vars(u: dict) -> dict:
    v = question_vars(u, None)
    if "crop" in u:
        c: Crop = u["crop"]
        v["GEN"] = c.verb["gen"]
        if u["type"] == "sowing":
            v["R"] = u["entry"]["region"]
        if u["type"] == "pest":
            v["CLS"] = decap(u["pest"]["class"])
    return v


def mcq_candidates(units: list[dict], rng: random.Random) -> list[dict]:
    """(question, correct, [4 wrong], subdomain, key) candidates; shuffled later."""
    out = []
    all_pests = [u["pest"] for u in units if u["type"] == "pest"]

    def add(
        u: dict, kind: str, correct: str, wrong: list[str], subdomain: str | None = None, tpl_i: int | None = None
    ) -> None:
        wrong = [w for w in dict.fromkeys(wrong) if w != correct]
        if len(wrong) < 4:
            return
        tpls = EVAL_MCQ[kind]
        tpl = tpls[tpl_i % len(tpls)] if tpl_i is not None else rng.choice(tpls)
        q = tpl.format(**eval_vars(u))
        out.append(
            {
                "question": q,
                "correct": correct,
                "wrong": rng.sample(wrong, 4),
                "subdomain": subdomain or u["category"],
                "unit": u["key"],
                "kind": kind,
            }
        )

    for u in units:
        if "crop" in u:
            c: Crop = u["crop"]
            t = u["type"]
            if t == "sowing":
                add(u, "sowing", u["entry"]["window"], wrong_windows(u["entry"]["window"]))
            elif t == "harvest":
                h = c.t["harvest"]["window"]
                add(u, "harvest", h, wrong_windows(h))
                y = c.t.get("yield")
                if y:
                    add(
                        u,
                        "yield",
                        fmt_range(y["min"], y["max"], y["unit"]),
                        numeric_distractors(y["min"], y["max"], y["unit"], rng),
                    )
                rm = c.t.get("region_mcq")
                if rm:
                    add(u, "region", rm["correct"], rm["wrong"])
            elif t == "seed":
                sr = c.t["seed_rate"]
                add(
                    u,
                    "seed",
                    fmt_range(sr["min"], sr["max"], sr["unit"]),
                    numeric_distractors(sr["min"], sr["max"], sr["unit"], rng),
                )
            elif t == "fert":
                f = c.t["fertiliser"]
                add(u, "fertN", fmt_range(*f["N"], "kg/da"), numeric_distractors(*f["N"], "kg/da", rng))
                add(u, "fertP", fmt_range(*f["P2O5"], "kg/da"), numeric_distractors(*f["P2O5"], "kg/da", rng))
                if f["K2O"][0] > 0:
                    add(u, "fertK", fmt_range(*f["K2O"], "kg/da"), numeric_distractors(*f["K2O"], "kg/da", rng))
            elif t == "irr":
                need = c.t["irrigation"].get("need_mm")
                if need:
                    lo, hi = need
                    wrong = [
                        fmt_range(lo / 10, hi / 10, "mm"),
                        fmt_range(lo * 10, hi * 10, "mm"),
                        fmt_range(lo / 4, hi / 4, "mm"),
                        fmt_range(lo * 4, hi * 4, "mm"),
                    ]
                    add(u, "irr", fmt_range(lo, hi, "mm"), wrong)
            elif t == "pest":
                p = u["pest"]
                bad_groups = {
                    "insektisit": {"fungisit", "herbisit"},
                    "akarisit": {"fungisit", "herbisit"},
                    "fungisit": {"insektisit", "akarisit", "herbisit"},
                    "herbisit": {"insektisit", "akarisit", "fungisit"},
                }[p["group"]]
                by_key: dict[str, str] = {}
                for q in all_pests:
                    if (
                        q["group"] in bad_groups
                        and q["key"] != p["key"]
                        and "tohum" not in q["class"]
                        and not (p["group"] == "akarisit" and q["key"] == "kükürt")
                    ):
                        by_key.setdefault(q["key"], re.sub(r" \((tohum ilaçlaması|zehirli yem)\)$", "", q["class"]))
                wrong_cls = sorted(by_key.values())
                add(u, "pest_class", p["class"], rng.sample(wrong_cls, min(6, len(wrong_cls))))
                if p["phi"]:
                    wrong = [f"{d} gün" for d in PHI_POOL if abs(math.log(d / p["phi"])) >= math.log(2.5)]
                    wrong.append("Bekleme süresi yoktur, hemen hasat edilebilir")
                    add(u, "pest_phi", f"{p['phi']} gün", rng.sample(wrong, min(6, len(wrong))))
                add(
                    u,
                    "pest_dose",
                    fmt_range(p["dose"][0], p["dose"][1], p["unit"]),
                    numeric_distractors(p["dose"][0], p["dose"][1], p["unit"], rng),
                )
        else:
            f = u["fact"]
            add(u, "free", f["answer"], f["wrong"], tpl_i=u["idx"])

    # Regional calendar questions (iklim_takvim): which crop is sown/planted in this window here?
    sow_units = [u for u in units if u["type"] == "sowing"]
    crops = {u["crop"].id: u["crop"] for u in sow_units}
    for u in sow_units:
        c: Crop = u["crop"]
        e = u["entry"]
        months = months_of(e["window"])
        near = {(m + d) % 12 for m in months for d in (-1, 0, 1)}
        wrong = []
        for cid in sorted(crops):
            o = crops[cid]
            if cid == c.id or o.t["planting"] != c.t["planting"]:
                continue
            if all(not (months_of(s["window"]) & near) for s in o.t["sowing"]):
                wrong.append(cap(o.plant_plain))
        if len(wrong) < 4:
            continue
        v = eval_vars(u)
        tpl_i = u["uid"] % 2
        tpl = EVAL_MCQ["calendar"][tpl_i]
        v.update({"W": e["window"], "NOUN": c.verb["poss"] if tpl_i else c.verb["noun"]})
        out.append(
            {
                "question": tpl.format(**v),
                "correct": cap(c.plant_plain),
                "wrong": rng.sample(wrong, 4),
                "subdomain": "iklim_takvim",
                "unit": u["key"],
                "kind": "calendar",
            }
        )
    return out


def fact_list(u: dict) -> list[str]:
    if "crop" not in u:
        return list(u["fact"]["keys"])
    c: Crop = u["crop"]
    t = u["type"]
    if t == "sowing":
        facts = [x.strip() for x in u["entry"]["window"].split("–")]
        sr = c.t.get("seed_rate")
        if sr:
            facts.append(fmt_range(sr["min"], sr["max"], sr["unit"]))
        return facts[:4]
    if t == "harvest":
        facts = [x.strip() for x in c.t["harvest"]["window"].split("–")]
        y = c.t.get("yield")
        if y:
            facts.append(fmt_range(y["min"], y["max"], y["unit"]))
        return facts[:4]
    if t == "seed":
        sr = c.t["seed_rate"]
        return [fmt_range(sr["min"], sr["max"], sr["unit"]), sr["item"]]
    if t == "fert":
        f = c.t["fertiliser"]
        facts = [fmt_range(*f["N"], "kg/da"), fmt_range(*f["P2O5"], "kg/da")]
        if f["K2O"][0] > 0:
            facts.append(fmt_range(*f["K2O"], "kg/da"))
        return facts
    if t == "irr":
        irr = c.t["irrigation"]
        facts = [irr["method"]]
        if irr.get("need_mm"):
            facts.append(fmt_range(*irr["need_mm"], "mm"))
        return facts
    if t == "pest":
        p = u["pest"]
        facts = [p["key"], fmt_range(p["dose"][0], p["dose"][1], p["unit"])]
        if p["phi"]:
            facts.append(f"{p['phi']} gün")
        return facts
    return []


def open_qa_candidates(units: list[dict], rng: random.Random) -> list[dict]:
    out = []
    for u in units:
        if u["type"] == "tips":
            continue
        facts = fact_list(u)
        if "crop" in u:
            if u["type"] == "irr" and not u["crop"].t["irrigation"].get("need_mm"):
                continue
            q = EVAL_OPEN[u["type"]].format(**eval_vars(u))
            for _ in range(50):  # resample until every atomic fact is literally in the reference
                ref = make_answer(u, rng, "good", None)
                if all(f in ref for f in facts):
                    break
            else:
                raise RuntimeError(f"reference for {u['key']} misses facts {facts}")
            safety = u["type"] == "pest"
        else:
            q = u["fact"]["q"]
            ref = sentences(u["fact"]["explain"], rng.choice(FREE_CLOSERS[u["topic"]["subdomain"]]))
            safety = bool(u["fact"].get("safety"))
        out.append(
            {
                "question": q,
                "reference": ref,
                "facts": facts,
                "safety_critical": safety,
                "subdomain": u["category"],
                "unit": u["key"],
            }
        )
    return out


def finalize_mcq(cands: list[dict], prefix: str, rng: random.Random) -> list[dict]:
    rows = []
    for i, cnd in enumerate(cands):
        letter = i % 5
        choices = cnd["wrong"][:]
        rng.shuffle(choices)
        choices.insert(letter, cnd["correct"])
        rows.append(
            {
                "id": f"{prefix}-{i + 1:04d}",
                "question": cnd["question"],
                "choices": choices,
                "answer": "ABCDE"[letter],
                "subdomain": cnd["subdomain"],
            }
        )
    return rows


def build_eval(units: list[dict], rng: random.Random) -> tuple[list[dict], list[dict], list[dict]]:
    cands = mcq_candidates(units, rng)
    seen, uniq = set(), []
    for c in cands:
        k = normalize(c["question"])
        if k not in seen:
            seen.add(k)
            uniq.append(c)
    rng.shuffle(uniq)
    dev, rest = [], []
    taken: Counter = Counter()
    for c in uniq:
        if taken[c["subdomain"]] < MCQ_DEV_PER_SUBDOMAIN:
            taken[c["subdomain"]] += 1
            dev.append(c)
        else:
            rest.append(c)
    dev.sort(key=lambda c: SUBDOMAINS.index(c["subdomain"]))
    mcq = finalize_mcq(rest, "mcq", rng)
    mcq_dev = finalize_mcq(dev, "mcqdev", rng)

    oq = open_qa_candidates(units, rng)
    by_sub: dict[str, list[dict]] = defaultdict(list)
    for o in oq:
        by_sub[o["subdomain"]].append(o)
    chosen = []
    for sub in SUBDOMAINS:
        pool = by_sub[sub][:]
        rng.shuffle(pool)
        chosen += pool[:OPEN_QA_PER_SUBDOMAIN]
    rng.shuffle(chosen)
    open_qa = [
        {
            "id": f"oqa-{i + 1:04d}",
            "question": o["question"],
            "reference": o["reference"],
            "facts": o["facts"],
            "safety_critical": o["safety_critical"],
            "subdomain": o["subdomain"],
        }
        for i, o in enumerate(chosen)
    ]
    return mcq, mcq_dev, open_qa


# ----------------------------------------------------------------------------------------------
# Output
# ----------------------------------------------------------------------------------------------


def nfc_obj(obj):
    if isinstance(obj, str):
        return nfc(obj)
    if isinstance(obj, list):
        return [nfc_obj(x) for x in obj]
    if isinstance(obj, dict):
        return {k: nfc_obj(v) for k, v in obj.items()}
    return obj


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        for r in rows:
            fh.write(json.dumps(nfc_obj(r), ensure_ascii=False) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Generate Tarım RLHF datasets from data/kb (deterministic).")
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--out-root", type=Path, default=ROOT / "data", help="where sft/, preferences/, eval/ go")
    ap.add_argument("--handwritten", type=Path, default=ROOT / "data" / "handwritten" / "sft_farmer.jsonl")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()

    topics = load_kb(ROOT / "data" / "kb")
    units = build_units(topics)

    sft_gen = build_sft(units, random.Random(args.seed))
    hand = load_handwritten(args.handwritten)
    sft_all = sft_gen + hand
    random.Random(args.seed + 1).shuffle(sft_all)
    n_val = round(len(sft_all) * SFT_VAL_SHARE)
    sft_val, sft_train = sft_all[:n_val], sft_all[n_val:]

    pref_train, pref_test = build_preferences(units, random.Random(args.seed + 2))
    mcq, mcq_dev, open_qa = build_eval(units, random.Random(args.seed + 3))

    out = args.out_root
    files = {
        out / "sft" / "train.jsonl": sft_train,
        out / "sft" / "validation.jsonl": sft_val,
        out / "preferences" / "train.jsonl": pref_train,
        out / "preferences" / "test.jsonl": pref_test,
        out / "eval" / "mcq.jsonl": mcq,
        out / "eval" / "mcq_dev.jsonl": mcq_dev,
        out / "eval" / "open_qa.jsonl": open_qa,
    }
    for path, rows in files.items():
        write_jsonl(path, rows)

    train_files = [
        out / "sft" / "train.jsonl",
        out / "sft" / "validation.jsonl",
        out / "preferences" / "train.jsonl",
        out / "preferences" / "test.jsonl",
    ]
    eval_files = [out / "eval" / "mcq.jsonl", out / "eval" / "mcq_dev.jsonl", out / "eval" / "open_qa.jsonl"]
    report = find_leaks(eval_files, train_files, ngram=8)

    summary = {str(p.relative_to(out.parent) if out.parent in p.parents else p): len(r) for p, r in files.items()}
    summary["sft_generated"] = len(sft_gen)
    summary["sft_handwritten"] = len(hand)
    summary["kb_topics"] = len(topics)
    summary["kb_units"] = len(units)
    summary["leakage"] = {k: report[k] for k in ("n_exact", "max_overlap", "mean_overlap", "share_with_any_overlap")}
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    print(json.dumps(summary, ensure_ascii=False, indent=2))
    if report["n_exact"]:
        print("ERROR: eval questions leak into training files:", report["exact_matches"][:5], file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
