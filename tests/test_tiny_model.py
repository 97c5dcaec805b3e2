import json

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from shared.tiny_model import build_tiny_model, train_tokenizer
from shared.tokenizer_report import main as tokenizer_report_main
from shared.tokenizer_report import tokenizer_report

TURKISH = "ĞÜŞİÖÇ ığüşöç: Ankara'da buğday, İzmir'de zeytin; dekara 20 kg."


def test_tiny_model_reloads_offline_and_generates(tiny_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    config = model.config
    assert config.num_key_value_heads < config.num_attention_heads  # grouped-query attention
    assert sum(p.numel() for p in model.parameters()) < 1_000_000
    assert tokenizer.decode(tokenizer(TURKISH).input_ids, skip_special_tokens=True) == TURKISH
    messages = [{"role": "user", "content": "Buğday ne zaman ekilir?"}]
    inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    output = model.generate(**inputs, max_new_tokens=8, do_sample=False)
    assert output.shape[1] > inputs["input_ids"].shape[1]


def test_chat_template_marks_only_assistant_tokens(tiny_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    messages = [
        {"role": "system", "content": "Sen bir ziraat mühendisisin."},
        {"role": "user", "content": "Soru?"},
        {"role": "assistant", "content": "Yanıt burada."},
    ]
    encoded = tokenizer.apply_chat_template(messages, return_dict=True, return_assistant_tokens_mask=True)
    marked = [t for t, m in zip(encoded["input_ids"], encoded["assistant_masks"]) if m]
    assert tokenizer.decode(marked) == "Yanıt burada.<|eot_id|>"
    assert tokenizer.decode(encoded["input_ids"]).startswith("<|begin_of_text|><|start_header_id|>system")


def test_build_is_deterministic_for_a_seed(tmp_path):
    a = build_tiny_model(tmp_path / "a", size="tiny", seed=1)
    b = build_tiny_model(tmp_path / "b", size="tiny", seed=1)
    c = build_tiny_model(tmp_path / "c", size="tiny", seed=2)
    assert (a / "tokenizer.json").read_text() == (b / "tokenizer.json").read_text()
    wa, wb, wc = (AutoModelForCausalLM.from_pretrained(p).model.embed_tokens.weight for p in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)


def test_tokenizer_report_measures_byte_splitting(tiny_model_dir, tmp_path):
    texts = [TURKISH, "Çiftçi şöyle dedi: ılık havada sulama yapılmaz."]
    ours = tokenizer_report(AutoTokenizer.from_pretrained(tiny_model_dir), texts)
    assert ours["round_trip_exact_share"] == 1.0
    assert ours["turkish_letters"] == sum(ch in "çğıöşüÇĞİÖŞÜ" for ch in "".join(texts))
    # A byte-level vocabulary with no merges splits every Turkish letter into two byte pieces.
    bytes_only = tokenizer_report(train_tokenizer(["abc"], vocab_size=100), texts)
    assert bytes_only["turkish_letters_split_into_bytes_share"] == 1.0
    assert ours["turkish_letters_split_into_bytes_share"] < 0.5
    assert bytes_only["fertility_tokens_per_word"] > ours["fertility_tokens_per_word"]
    data = tmp_path / "d.jsonl"
    data.write_text("\n".join(json.dumps({"prompt": t, "completion": t}, ensure_ascii=False) for t in texts))
    report = tokenizer_report_main(
        ["--model", str(tiny_model_dir), "--data", str(data), "--out", str(tmp_path / "r.json")]
    )
    assert json.loads((tmp_path / "r.json").read_text())["texts"] == 2 == report["texts"]
