#!/usr/bin/env python
"""Generate the project's Turkish datasets from the knowledge base (deterministic).

Reads ``data/kb/*.yaml`` (the facts), ``data/templates/*.yaml`` (the Turkish wording: question and answer
templates, phrases, grammar forms, provinces) and, when present, ``data/handwritten/sft_farmer.jsonl``, and writes:

* ``data/sft/{train,validation}.jsonl``          conversational SFT rows (messages, category, source)
* ``data/preferences/{train,test}.jsonl``        preference pairs with a labelled defect
* ``data/eval/mcq.jsonl`` / ``mcq_dev.jsonl``    5-choice TurkishMMLU-style questions
* ``data/eval/open_qa.jsonl``                    open questions with reference + atomic facts

Everything is driven by ``random.Random(SEED)`` instances, iterates over sorted inputs and writes
NFC-normalised UTF-8 JSONL (``ensure_ascii=False``), so re-running produces byte-identical files. A template
list is drawn from with the random generator, so changing a list's length changes every file after it.

Training-side question templates (``questions.yaml``) and evaluation-side templates (``eval_questions.yaml``)
are kept apart; eval questions are checked against every training question with ``shared.data.leakage``
before the files are written.

Usage: ``python data/scripts/generate_datasets.py [--seed N] [--out-root DIR]`` (with the project installed,
e.g. ``.venv/bin/python``).
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

from shared.data.leakage import find_leaks, question_key
from shared.generation import DEFAULT_SYSTEM_PROMPT
from shared.taxonomy import CATEGORIES, DEFECTS
from shared.text import turkish_lower, turkish_upper

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "data" / "templates"

SEED = 20240601
SFT_TARGET = 1950  # generated conversations (hand-written rows come on top)
SFT_VAL_SHARE = 0.05
PREF_PER_DEFECT = 88
PREF_TEST_SHARE = 0.15
OPEN_QA_PER_SUBDOMAIN = 21
MCQ_DEV_PER_SUBDOMAIN = 5
STRENGTH = {"wrong_dose_unit": 2, "unsafe_practice": 2}  # everything else: 1
PHI_POOL = [1, 2, 3, 7, 14, 21, 28, 35, 45, 60, 90, 120]  # pre-harvest intervals (days) for MCQ distractors


def load_templates(name: str) -> dict:
    return yaml.safe_load((TEMPLATES / f"{name}.yaml").read_text(encoding="utf-8"))


LANGUAGE = load_templates("language")
GEOGRAPHY = load_templates("geography")
QUESTIONS = load_templates("questions")
EVAL_QUESTIONS = load_templates("eval_questions")
ANSWERS = load_templates("answers")
REJECTED = load_templates("rejected")

# ----------------------------------------------------------------------------------------------
# Turkish text helpers
# ----------------------------------------------------------------------------------------------

MONTHS = LANGUAGE["months"]
MONTH_RE = re.compile(r"\b(" + "|".join(MONTHS) + r")\b")
BACK_VOWELS = set(LANGUAGE["vowels"]["back"])
FRONT_VOWELS = set(LANGUAGE["vowels"]["front"])
HARD_CONSONANTS = set(LANGUAGE["hard_consonants"])
UNIT_SWAP = LANGUAGE["units"]["wrong"]
SEED_COUNT_UNITS = set(LANGUAGE["units"]["counted"])


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def cap(text: str) -> str:
    """Upper-case the first letter with Turkish rules (i→İ, ı→I)."""
    return turkish_upper(text[0]) + text[1:] if text else text


def decap(text: str) -> str:
    """Lower-case the first letter unless the word looks like an acronym (HPPD, ACCase)."""
    if len(text) > 1 and text[1].isupper():
        return text
    return turkish_lower(text[0]) + text[1:]


def loc(name: str) -> str:
    """Locative with apostrophe for a proper noun: Konya → Konya'da, Uşak → Uşak'ta, Rize → Rize'de."""
    if name in LANGUAGE["locative_exceptions"]:
        return LANGUAGE["locative_exceptions"][name]
    word = turkish_lower(name.split()[-1])
    vowel = next((c for c in reversed(word) if c in BACK_VOWELS | FRONT_VOWELS), "a")
    suffix_vowel = "a" if vowel in BACK_VOWELS else "e"
    consonant = "t" if word[-1] in HARD_CONSONANTS else "d"
    return f"{name}'{consonant}{suffix_vowel}"


def join_tr(items: list[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + f" {LANGUAGE['list_and']} " + items[-1]


def days(n: int) -> str:
    return LANGUAGE["days"].format(DAYS=n)


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

PROVINCES = GEOGRAPHY["provinces"]
# Where the generic list would put a crop somewhere it is hardly grown.
CROP_PROVINCES = GEOGRAPHY["crop_provinces"]


def provinces_for(crop_id: str | None, region: str) -> list[str]:
    if region not in PROVINCES:
        return [p for r in sorted(PROVINCES) for p in PROVINCES[r]]
    return CROP_PROVINCES.get(crop_id, {}).get(region, PROVINCES[region])


# ----------------------------------------------------------------------------------------------
# Knowledge base → units
# ----------------------------------------------------------------------------------------------


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
        self.verb = LANGUAGE["verbs"][t["planting"]]
        self.subdomain = t["subdomain"]
        place = LANGUAGE["places"]["orchard" if self.subdomain == "meyve_bag" else "field"]
        self.place, self.place_loc = place["my"], place["in"]

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
# Template placeholders: one vocabulary for questions and answers (see data/templates/README.md)
# ----------------------------------------------------------------------------------------------


def seed_quantity(c: Crop) -> dict:
    """The words for a crop's seed rate: counted (adet) or weighed."""
    return LANGUAGE["seed_quantity"]["counted" if c.t["seed_rate"]["unit"] in SEED_COUNT_UNITS else "weighed"]


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
                "PASS": c.verb["pass"],
                "USE": c.verb["use"],
                "PLACE": c.place,
                "PLACE_IN": c.place_loc,
            }
        )
        sr = c.t.get("seed_rate")
        if sr:
            words = seed_quantity(c)
            vars_.update(
                {
                    "ITEM": sr["item"],
                    "HOWMUCH": words["howmuch"],
                    "ITEMQ": words["what"].format(ITEM=sr["item"]),
                    "WHAT_ACC": cap(words["what_acc"].format(ITEM=sr["item"])),
                }
            )
            vars_["USE"] = words.get("use", vars_["USE"])
        if u["type"] == "sowing":
            vars_["R"] = u["entry"]["region"]
            vars_["RL"] = loc(u["entry"]["region"])
        else:
            sow = c.t.get("sowing") or [{"region": c.t["regions"][0]}]
            vars_["RL"] = loc(sow[0]["region"])
        if u["type"] == "pest":
            vars_.update(
                {
                    "PEST": u["pest"]["name"],
                    "PESTC": cap(u["pest"]["name"]),
                    "SYMPTOM": u["pest"].get("symptom", ""),
                    "CLS": decap(u["pest"]["class"]),
                }
            )
    else:
        t, f = u["topic"], u["fact"]
        vars_.update({"T": f["topic"], "TC": cap(f["topic"])})
        if province:
            vars_["CTX"] = QUESTIONS["free_context"][t["subdomain"]].format(PL=loc(province))
    return vars_


def fill(template: str, vars_: dict, **extra) -> str:
    return template.format(**(vars_ | extra))


# ----------------------------------------------------------------------------------------------
# Answer composers (mode: good | dose_x10 | dose_unit | dose_nounit | season | unsafe)
# ----------------------------------------------------------------------------------------------


def dose_values(lo: float, hi: float, unit: str, mode: str) -> tuple[float, float, str | None]:
    if mode == "dose_x10":
        return lo * 10, hi * 10, unit
    if mode == "dose_unit":
        return lo, hi, UNIT_SWAP.get(unit, unit)
    if mode == "dose_nounit":
        return lo, hi, None
    return lo, hi, unit


def answer_window(window: str, mode: str, rng: random.Random) -> str:
    """The month window an answer gives: the true one, or (mode "season") a shifted one that misses it."""
    if mode != "season":
        return window
    return rng.choice(wrong_windows(window, margin=1) or [shift_window(window, 6)])


def with_tip_and_closer(parts: list[str], c: Crop, rng: random.Random, tip_share: float) -> str:
    """The usual end of a crop answer: sometimes one of the crop's tips, then a closing sentence."""
    if rng.random() < tip_share:
        parts.append(rng.choice(c.t["tips"]))
    parts.append(rng.choice(ANSWERS["crop_closers"]))
    return sentences(*parts)


def answer_sowing(u: dict, rng: random.Random, mode: str = "good", province: str | None = None) -> str:
    c: Crop = u["crop"]
    e = u["entry"]
    text = ANSWERS["sowing"]
    v = question_vars(u, province) | {"W": answer_window(e["window"], mode, rng)}
    core = fill(rng.choice(text["core"]), v)
    if province:
        core = fill(rng.choice(text["core_in_province"]), v)
    parts = [core]
    if mode != "season" and e.get("note"):
        parts.append(e["note"])
    sr = c.t.get("seed_rate")
    if sr and rng.random() < 0.7:
        lo, hi, unit = dose_values(sr["min"], sr["max"], sr["unit"], mode)
        parts.append(fill(text["seed_plan"], v, RANGE=fmt_range(lo, hi, unit)))
    return with_tip_and_closer(parts, c, rng, tip_share=0.6)


def answer_harvest(u: dict, rng: random.Random, mode: str = "good", province: str | None = None) -> str:
    c: Crop = u["crop"]
    h = c.t["harvest"]
    text = ANSWERS["harvest"]
    v = question_vars(u, province) | {"W": answer_window(h["window"], mode, rng)}
    core = fill(rng.choice(text["core"]), v)
    if province:
        core = fill(text["core_in_province"], v)
    parts = [core]
    if mode != "season":
        parts.append(h["note"])
    y = c.t.get("yield")
    if y and rng.random() < 0.75:
        lo, hi, unit = dose_values(y["min"], y["max"], y["unit"], mode)
        parts.append(fill(rng.choice(text["yield"]), v, RANGE=fmt_range(lo, hi, unit)))
        if y.get("note") and rng.random() < 0.5:
            parts.append(y["note"])
    return with_tip_and_closer(parts, c, rng, tip_share=0.5)


def answer_seed(u: dict, rng: random.Random, mode: str = "good", province: str | None = None) -> str:
    c: Crop = u["crop"]
    sr = c.t["seed_rate"]
    text = ANSWERS["seed"]
    lo, hi, unit = dose_values(sr["min"], sr["max"], sr["unit"], mode)
    v = question_vars(u, province)
    parts = [fill(rng.choice(text["core"]), v, RANGE=fmt_range(lo, hi, unit)), sr["note"]]
    sow = c.t.get("sowing") or []
    if province:
        sow = [e for e in sow if province in provinces_for(c.id, e["region"])]
    if sow and rng.random() < 0.6:
        e = rng.choice(sow)
        parts.append(fill(text["sowing_time"], v, RL=loc(e["region"]), W=e["window"]))
    return with_tip_and_closer(parts, c, rng, tip_share=0.5)


def answer_fert(u: dict, rng: random.Random, mode: str = "good", province: str | None = None) -> str:
    c: Crop = u["crop"]
    f = c.t["fertiliser"]
    text = ANSWERS["fert"]
    n_lo, n_hi, unit = dose_values(f["N"][0], f["N"][1], "kg/da", mode)
    p_lo, p_hi, _ = dose_values(f["P2O5"][0], f["P2O5"][1], "kg/da", mode)
    k_lo, k_hi, _ = dose_values(f["K2O"][0], f["K2O"][1], "kg/da", mode)
    v = question_vars(u, province) | {"N": fmt_range(n_lo, n_hi, unit), "P": fmt_range(p_lo, p_hi, unit), "K": ""}
    cores = text["core"]
    if f["K2O"][1] > 0 and mode != "dose_nounit":
        if f["K2O"][0] > 0:
            v["K"] = text["potassium"].format(K=fmt_range(k_lo, k_hi, unit))
        else:  # potassium only where the soil lacks it: "at most …"
            cores = text["core_potassium_at_most"]
            v["KMAX"] = f"{fmt_num(k_hi)} {unit}"
    core = fill(rng.choice(cores), v)
    if province:
        core = fill(text["in_province"], v) + " " + core
    parts = [core, f["note"]]
    if mode == "good" and rng.random() < 0.6:
        parts.append(fill(text["urea"], v, NMAX=fmt_num(f["N"][1]), UREA=round(f["N"][1] / 0.46)))
    parts.append(rng.choice(text["closing"]))
    if rng.random() < 0.4:
        parts.append(rng.choice(ANSWERS["crop_closers"]))
    return sentences(*parts)


def answer_irr(u: dict, rng: random.Random, mode: str = "good", province: str | None = None) -> str:
    c: Crop = u["crop"]
    irr = c.t["irrigation"]
    text = ANSWERS["irr"]
    v = question_vars(u, province) | {"METHOD": irr["method"], "CRITICAL": irr["critical"]}
    parts = [fill(rng.choice(text["core"]), v)]
    if irr.get("need_mm"):
        parts.append(fill(rng.choice(text["need"]), v, NEED=fmt_range(*irr["need_mm"], "mm")))
    parts.append(fill(rng.choice(text["critical"]), v))
    parts.append(irr["note"])
    parts.append(rng.choice(text["closing"]))
    return sentences(*parts)


def answer_pest(
    u: dict, rng: random.Random, mode: str = "good", province: str | None = None, symptom: bool = False
) -> str:
    p = u["pest"]
    text = ANSWERS["pest"]
    unsafe = REJECTED["unsafe"]
    parts = []
    lo, hi, unit = dose_values(p["dose"][0], p["dose"][1], p["unit"], mode)
    v = question_vars(u, province) | {"DOSE": fmt_range(lo, hi, unit), "TIMING": p["timing"], "PHI": p["phi"]}
    if symptom:
        parts.append(fill(rng.choice(text["symptom"]), v))
    cultural = p.get("cultural")
    chem = fill(rng.choice(text["chemical"]), v)
    timing = fill(text["timing"], v)
    if p["phi"]:
        phi = fill(rng.choice(text["waiting_period"]), v)
    elif "tohum" in p["unit"]:
        phi = text["treated_seed"]
    else:
        phi = text["no_waiting_period"]
    safety = rng.choice(text["safety"])
    closer = rng.choice(text["closers"])
    if mode == "unsafe":
        cats = [unsafe["waiting_period"], unsafe["mixing"], unsafe["protective_equipment"], unsafe["waste"]]
        if not p["phi"]:
            cats = cats[1:]
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
    text = ANSWERS["tips"]
    regions = c.t["regions"]
    where = (
        text["one_region"].format(R=regions[0])
        if len(regions) == 1
        else text["regions"].format(REGIONS=join_tr(regions))
    )
    v = question_vars(u, province) | {"WHERE": where}
    intro = fill(rng.choice(text["intro"]), v)
    tips = rng.sample(c.t["tips"], k=min(len(c.t["tips"]), rng.choice([2, 3])))
    region_sent = fill(text["where_grown_in_province" if province else "where_grown"], v)
    return sentences(intro, region_sent, *tips, rng.choice(ANSWERS["crop_closers"]))


def answer_free(u: dict, rng: random.Random, mode: str = "good", province: str | None = None) -> str:
    t, f = u["topic"], u["fact"]
    parts = [rng.choice(ANSWERS["openers"]), f["explain"]]
    if t.get("tips") and rng.random() < 0.5:
        parts.append(rng.choice(t["tips"]))
    closers = ANSWERS["free_closers"][t["subdomain"]]
    if f.get("safety") and t["subdomain"] == "bitki_koruma":
        closers = [ANSWERS["free_safety_closer"]]
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
# Training-side questions (SFT + preference prompts); the evaluation has its own templates.
# A template with {PL} (a province) or {CTX} (a province context sentence) is asked from a drawn province.
# ----------------------------------------------------------------------------------------------


def needs_province(template: str) -> bool:
    return "{PL}" in template or "{CTX}" in template


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


def templates_for(u: dict) -> list[str]:
    tpls = list(QUESTIONS["templates"][u["type"]])
    if u["type"] == "pest" and u["pest"].get("symptom"):
        tpls += QUESTIONS["pest_symptom"]
    return tpls


def make_question(u: dict, template: str, rng: random.Random) -> tuple[str, str | None, bool]:
    province = pick_province(u, rng) if needs_province(template) else None
    q = template.format(**question_vars(u, province))
    symptom = "{SYMPTOM}" in template
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
    q = rng.choice(QUESTIONS["followups"][o["type"]]).format(**question_vars(o, None))
    return q, make_answer(o, rng, "good", None)


def build_sft(units: list[dict], rng: random.Random) -> list[dict]:
    by_cat: dict[str, list[dict]] = defaultdict(list)
    units_by_owner: dict[str, list[dict]] = defaultdict(list)
    for u in units:
        by_cat[u["category"]].append(u)
        units_by_owner[u["crop"].id if "crop" in u else u["topic"]["id"]].append(u)
    per_cat_goal = SFT_TARGET / len(CATEGORIES)
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
            q = rng.choice(QUESTIONS["greetings"]) + q
            if question_key(q) not in seen:
                break
        else:
            continue
        seen.add(question_key(q))
        msgs = [
            {"role": "system", "content": DEFAULT_SYSTEM_PROMPT},
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
# Preferences: a good answer against one with a labelled defect
# ----------------------------------------------------------------------------------------------

BRANDS = REJECTED["brands"]


def brand(rng: random.Random, kind: str = "ilac") -> str:
    name = rng.choice(BRANDS["prefixes"]) + rng.choice(BRANDS["suffixes"])
    extra = rng.choice(BRANDS["extras"])
    if kind == "ilac":
        return f"{name} {extra} {rng.choice(BRANDS['strengths'])} {rng.choice(BRANDS['formulations'])}"
    if kind == "gubre":
        return f"{name} {extra} {rng.choice(BRANDS['npk'])}"
    return f"{name} {extra}"


def subject_phrase(u: dict) -> str:
    if "crop" in u:
        return REJECTED["subjects"][u["type"]].format(**question_vars(u, None))
    return u["fact"]["topic"]


def code_mix(text: str, rng: random.Random) -> str:
    mixing = REJECTED["code_mixing"]
    n = 0
    out = text
    for tr, en in mixing["replacements"]:
        pattern = re.compile(r"(?<![\wçğıöşüÇĞİÖŞÜ])" + re.escape(tr) + r"(?![\wçğıöşüÇĞİÖŞÜ])")
        if pattern.search(out) and rng.random() < 0.8:
            out, k = pattern.subn(en, out, count=1)
            n += k
    out = rng.choice(mixing["openers"]) + out if rng.random() < 0.7 or n < 3 else out
    if n < 4 or rng.random() < 0.5:
        out = out + " " + rng.choice(mixing["closers"])
    return out


def short_answer(u: dict, rng: random.Random) -> str:
    if "crop" in u:
        c: Crop = u["crop"]
        template = REJECTED["too_short"][u["type"]]
        if isinstance(template, list):
            template = rng.choice(template)
        f = c.t["fertiliser"]
        sr = c.t.get("seed_rate") or {}
        v = {
            "W": u["entry"]["window"] if u["type"] == "sowing" else c.t["harvest"]["window"],
            "RANGE": fmt_range(sr["min"], sr["max"], sr["unit"]) if sr else "",
            "N": fmt_range(*f["N"], "kg/da"),
            "P": fmt_range(*f["P2O5"], "kg/da"),
            "METHODC": cap(c.t["irrigation"]["method"]),
            "KEYC": cap(u["pest"]["key"]) if "pest" in u else "",
        }
        return template.format(**v)
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
    text = REJECTED["hallucinated"]
    core = core_sentence(u, rng)
    if "crop" in u:
        v = question_vars(u, None)
        if u["type"] == "pest":
            v |= {"BRAND": brand(rng, "ilac"), "BRAND2": brand(rng, "ilac")}
            return sentences(*(fill(s, v) for s in text["pest"]))
        if u["type"] in ("fert", "tips"):
            v |= {"BRAND": brand(rng, "gubre"), "BRAND2": brand(rng, "other")}
            return sentences(core, *(fill(s, v) for s in text["fertiliser"]))
        v["BRAND"] = brand(rng, "other")
        product = "irrigation" if u["type"] == "irr" else "seed"
        sr = u["crop"].t.get("seed_rate")
        if u["type"] != "irr" and sr and sr["item"] != "tohum":
            product = "seedling"
        return sentences(core, *(fill(s, v, PRODUCT=text["products"][product]) for s in text["product"]))
    name = rng.choice(BRANDS["prefixes"]) + rng.choice(BRANDS["suffixes"])
    # Every subdomain's brand is drawn, in file order, whichever one is used: that is how the committed
    # files were generated, and the random stream must not change.
    drawn = {sub: brand(rng, entry["brand"]) for sub, entry in text["free"].items() if "brand" in entry}
    sub = u["topic"]["subdomain"]
    v = {"NAME": name, "BRAND": drawn.get(sub, "")}
    return sentences(core, *(s.format(**v) for s in text["free"][sub]["sentences"]))


def unsafe_free(u: dict, rng: random.Random) -> str:
    f = u["fact"]
    unsafe = REJECTED["unsafe"]
    wrong = rng.sample(f["wrong"], 2)
    if u["topic"]["subdomain"] == "hayvancilik":
        pool = unsafe["veterinary"]
    else:
        pool = unsafe["waiting_period"] + unsafe["mixing"] + unsafe["protective_equipment"] + unsafe["waste"]
    return sentences(rng.choice(REJECTED["unsafe_openers"]), *wrong, rng.choice(pool))


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
        return rng.choice(REJECTED["vague"]).format(S=s, SC=cap(s))
    if defect == "hallucinated_product":
        return hallucinated(u, rng)
    if defect == "code_mixed":
        return code_mix(make_answer(u, rng, "good", province, symptom), rng)
    if defect == "too_short":
        return short_answer(u, rng)
    if defect == "rude":
        rude = REJECTED["rude"]
        return sentences(rng.choice(rude["openers"]), core_sentence(u, rng), rng.choice(rude["closers"]))
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
            if question_key(q) in used_prompts:
                continue
            chosen = make_answer(u, rng, "good", province, symptom)
            rejected = rejected_answer(u, defect, rng, province, symptom)
            if question_key(rejected) == question_key(chosen):
                continue
            used_prompts.add(question_key(q))
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

EVAL_MCQ = EVAL_QUESTIONS["mcq"]
EVAL_OPEN = EVAL_QUESTIONS["open"]


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
        v["GEN"] = u["crop"].verb["gen"]
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
                    wrong = [days(d) for d in PHI_POOL if abs(math.log(d / p["phi"])) >= math.log(2.5)]
                    wrong.append(EVAL_QUESTIONS["no_waiting_period"])
                    add(u, "pest_phi", days(p["phi"]), rng.sample(wrong, min(6, len(wrong))))
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
            facts.append(days(p["phi"]))
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
            ref = sentences(u["fact"]["explain"], rng.choice(ANSWERS["free_closers"][u["topic"]["subdomain"]]))
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
        k = question_key(c["question"])
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
    dev.sort(key=lambda c: CATEGORIES.index(c["subdomain"]))
    mcq = finalize_mcq(rest, "mcq", rng)
    mcq_dev = finalize_mcq(dev, "mcqdev", rng)

    oq = open_qa_candidates(units, rng)
    by_sub: dict[str, list[dict]] = defaultdict(list)
    for o in oq:
        by_sub[o["subdomain"]].append(o)
    chosen = []
    for sub in CATEGORIES:
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
