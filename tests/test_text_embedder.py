"""The CLIP text embedder: a tiny random CLIP text model and tokenizer saved offline, and the hub model online."""

from __future__ import annotations

import os
import pickle
import string

import numpy as np
import pytest
import torch

from audiodissect.errors import AudioDissectError
from audiodissect.text_embedder import TEXT_EMBEDDERS, ClipTextEmbedder, SentenceEmbedder, load_text_embedder

CONTEXT = 16  # max_position_embeddings of the tiny model: longer texts must be cut


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    """A folder with a random 2-layer CLIP text model (projection 8) and a character-level CLIP tokenizer."""
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection, CLIPTokenizer

    chars = list(string.ascii_lowercase) + list(".,!?'-")
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": len(chars) + i for i, c in enumerate(chars)})
    merges = [("t", "h"), ("th", "e</w>"), ("d", "o"), ("do", "g</w>")]
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    tokenizer = CLIPTokenizer(vocab=vocab, merges=merges)
    config = CLIPTextConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                            num_attention_heads=2, max_position_embeddings=CONTEXT, projection_dim=8,
                            bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                            pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    model = CLIPTextModelWithProjection(config).eval()
    path = tmp_path_factory.mktemp("tiny-clip")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path, model, tokenizer


def reference(model, tokenizer, text):
    """The model's projected embedding of one text, unpadded, L2-normalised."""
    ids = tokenizer([text], truncation=True, max_length=CONTEXT, return_tensors="pt")
    with torch.no_grad():
        emb = model(**ids).text_embeds[0]
    return (emb / emb.norm()).numpy()


def test_clip_spec_encodes_with_the_text_tower(tiny_clip):
    path, model, tokenizer = tiny_clip
    embedder = load_text_embedder(f"clip:{path}")
    assert isinstance(embedder, ClipTextEmbedder) and embedder.name == f"clip:{path}"
    assert load_text_embedder(f"clip:{path}") is embedder  # loaded once per process
    texts = ["the dog", "a dog barks!", "rain on a roof.", "the dog"]
    out = embedder.encode(texts)
    assert out.shape == (4, 8) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-6)
    for text, row in zip(texts, out):  # padding in a batch changes nothing
        np.testing.assert_allclose(row, reference(model, tokenizer, text), atol=1e-5)
    assert np.array_equal(out[0], out[3]) and not np.allclose(out[0], out[1])
    assert embedder.dim == 8 and embedder.encode([]).shape == (0, 8)


def test_clip_batches_and_truncates(tiny_clip):
    path, model, tokenizer = tiny_clip
    long = "a dog barks and barks while the rain falls on the roof"  # far over 16 tokens
    texts = [f"dog {c}" for c in "abcdefg"] + [long]
    small = ClipTextEmbedder(str(path), batch_size=3)
    calls = []
    original = small._embed

    def counting(batch):
        calls.append(len(batch))
        return original(batch)

    small._embed = counting
    got = small.encode(texts)
    np.testing.assert_allclose(got, ClipTextEmbedder(str(path), batch_size=64).encode(texts), atol=1e-5)
    np.testing.assert_allclose(got[-1], reference(model, tokenizer, long), atol=1e-5)
    assert small.max_length == CONTEXT
    small.encode(texts[:2])  # memoised: no new forward pass
    assert calls == [len(texts)]


def test_clip_errors_are_clear(tmp_path):
    with pytest.raises(AudioDissectError, match="cannot load CLIP text model") as err:
        ClipTextEmbedder(str(tmp_path / "missing")).encode(["x"])
    assert "save_pretrained" in err.value.hint
    with pytest.raises(AudioDissectError, match="needs a model"):
        ClipTextEmbedder("")
    with pytest.raises(AudioDissectError, match="batch_size"):
        ClipTextEmbedder("x", batch_size=0)


def test_plain_specs_stay_sentence_transformers():
    assert isinstance(load_text_embedder("minilm"), SentenceEmbedder)
    assert load_text_embedder("clip").name == "clip:openai/clip-vit-base-patch32"
    assert load_text_embedder("clip:").name == "clip:openai/clip-vit-base-patch32"  # an empty argument: the default
    other = load_text_embedder("sentence-transformers/all-mpnet-base-v2")  # any other name: sentence-transformers
    assert isinstance(other, SentenceEmbedder) and other.name == "sentence-transformers/all-mpnet-base-v2"
    assert load_text_embedder("C:/models/mine").name == "C:/models/mine"  # a path with a drive letter too
    with pytest.raises(AudioDissectError, match="malformed text embedder spec 'minilm:x'"):
        load_text_embedder("minilm:x")


def test_an_embedder_registered_at_run_time_is_found_by_name():
    class Bag:
        def __init__(self, dim=3):
            self.name = f"bag{dim}"
            self.dim = dim

        def encode(self, texts):
            return np.ones((len(texts), self.dim), dtype=np.float32) / np.sqrt(self.dim)

    TEXT_EMBEDDERS.register("bag", lambda size=None: Bag(int(size or 3)), argument="<size>", optional=True)
    try:
        bag = load_text_embedder("bag")
        assert isinstance(bag, Bag) and bag.name == "bag3" and load_text_embedder("bag") is bag
        assert load_text_embedder("bag:5").encode(["a", "b"]).shape == (2, 5)
        TEXT_EMBEDDERS.register("bag", lambda size=None: Bag(7), argument="<size>", optional=True, replace=True)
        assert load_text_embedder("bag").name == "bag7"  # the replaced entry is not served from the shared copy
    finally:
        TEXT_EMBEDDERS.unregister("bag")
    assert isinstance(load_text_embedder("bag"), SentenceEmbedder)  # back to the fallback: a model called "bag"


@pytest.mark.network
@pytest.mark.skipif(os.environ.get("AUDIODISSECT_NETWORK_TESTS") != "1",
                    reason="downloads CLIP from the hub; set AUDIODISSECT_NETWORK_TESTS=1 to run")
def test_clip_from_the_hub_ranks_matching_concepts_first():
    embedder = load_text_embedder("clip:openai/clip-vit-base-patch32")
    d = embedder.encode(["A dog barks loudly in the yard."])
    c = embedder.encode(["dog", "rain", "church bells"])
    assert d.shape == (1, 512) and int(np.argmax(d @ c.T)) == 0


def test_embedders_run_on_the_gpu_when_torch_sees_one(monkeypatch):
    from audiodissect.text_embedder import default_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert default_device() == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert default_device() == "cpu"
    assert SentenceEmbedder("minilm")._model.device.type == "cpu"
    # an embedder sent to another machine decides there, unless a device was asked for
    assert pickle.loads(pickle.dumps(SentenceEmbedder("minilm")))._device is None
    assert pickle.loads(pickle.dumps(ClipTextEmbedder("x", device="cpu")))._device == "cpu"


class CountingModel:
    """Stands in for a sentence-transformers model: a fixed vector per text, and every text it was asked for."""

    def __init__(self):
        self.asked: list[str] = []

    def encode(self, texts, **kwargs):
        self.asked += list(texts)
        vectors = np.array([[len(t), sum(map(ord, t)) % 97, 1.0] for t in texts], dtype=np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def counting_embedder(store, name="minilm"):
    embedder = SentenceEmbedder(name, store=store)
    embedder.__dict__["_model"] = model = CountingModel()  # the cached property, without loading weights
    return embedder, model


def test_each_text_is_embedded_once_per_machine(tmp_path):
    from audiodissect.text_embedder import EmbeddingStore

    store = EmbeddingStore(tmp_path / "texts.sqlite")
    first, model = counting_embedder(store)
    vectors = first.encode(["a dog", "rain", "a dog"])
    assert model.asked == ["a dog", "rain"] and first.embedded == 2
    assert first.encode(["rain"]).tolist() == vectors[1:2].tolist() and model.asked == ["a dog", "rain"]
    second, other = counting_embedder(store)  # another stage, process or run: the store answers
    again = second.encode(["rain", "a bell", "a dog"])
    assert other.asked == ["a bell"] and second.embedded == 1
    np.testing.assert_array_equal(again[[0, 2]], vectors[[1, 0]])
    third, model3 = counting_embedder(store, name=str(tmp_path))  # another model: nothing is shared
    third.encode(["rain"])
    assert model3.asked == ["rain"]


def test_the_store_can_be_turned_off_or_missing(tmp_path, monkeypatch):
    from audiodissect.text_embedder import STORE_ENV, EmbeddingStore

    store = EmbeddingStore(tmp_path / "texts.sqlite")
    monkeypatch.setenv(STORE_ENV, "0")
    first, _ = counting_embedder(store)
    first.encode(["rain"])
    assert not (tmp_path / "texts.sqlite").exists()
    monkeypatch.delenv(STORE_ENV)
    (tmp_path / "file").write_text("")
    unusable, model = counting_embedder(EmbeddingStore(tmp_path / "file" / "texts.sqlite"))  # a folder that is a file
    assert unusable.encode(["rain", "rain"]).shape == (2, 3) and model.asked == ["rain"]
    memo_only, model = counting_embedder(None)
    memo_only.encode(["rain"])
    assert model.asked == ["rain"]


def test_the_store_key_names_the_weights_and_leaves_the_pickle(tmp_path):
    import pickle

    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(b"1")
    embedder = SentenceEmbedder(str(folder))
    key = embedder.store_key
    assert "store_key" not in pickle.loads(pickle.dumps(embedder)).__dict__
    (folder / "weights.bin").write_bytes(b"22")
    assert SentenceEmbedder(str(folder)).store_key != key
    assert SentenceEmbedder("minilm").store_key.startswith("minilm|")


def test_no_text_needs_no_model_when_a_vector_is_known(tmp_path):
    from audiodissect.text_embedder import EmbeddingStore

    store = EmbeddingStore(tmp_path / "texts.sqlite")
    first, _ = counting_embedder(store)
    first.encode(["rain"])
    fresh = SentenceEmbedder("minilm", store=store)  # its model would load on use
    assert fresh.encode([]).shape == (0, 3) and "_model" not in fresh.__dict__


def test_a_damaged_stored_vector_is_embedded_again(tmp_path):
    from audiodissect.text_embedder import EmbeddingStore

    store = EmbeddingStore(tmp_path / "texts.sqlite")
    first, _ = counting_embedder(store)
    vectors = first.encode(["a dog", "a bell", "rain", "wind"])
    store.put_values(first.store_key, {"rain": b"\x00" * 8, "wind": b"\x01" * 13})  # too short, not float32s
    second, model = counting_embedder(store)
    again = second.encode(["a dog", "a bell", "rain", "wind"])
    assert sorted(model.asked) == ["rain", "wind"]  # the damaged entries only
    np.testing.assert_array_equal(again, vectors)
    assert len(store.get(first.store_key, ["rain", "wind"])) == 2  # and stored again whole
