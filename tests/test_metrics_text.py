import math

import pytest

from unlearnkit.eval.metrics import text


def test_rouge_recall_and_f1_with_stemmer():
    # Stemmer: "cats" -> "cat". Prediction the cat sat (3) vs reference the cat sat on the mat (6):
    # LCS 3 -> recall 3/6, precision 3/3, F1 = 2·0.5·1/1.5 = 2/3; unigram overlap 3 -> recall 3/6.
    s = text.rouge("The cats sat", "the cat sat on the mat")
    assert s.rougeL_recall == pytest.approx(0.5)
    assert s.rouge1_recall == pytest.approx(0.5)
    assert s.rougeL_f1 == pytest.approx(2 / 3)


def test_rougeL_differs_from_rouge1_on_word_order():
    # "sat the cat" vs "the cat sat": every unigram matches (rouge1 recall 1), LCS "the cat" = 2/3.
    assert text.rouge1_recall("sat the cat", "the cat sat") == pytest.approx(1.0)
    assert text.rougeL_recall("sat the cat", "the cat sat") == pytest.approx(2 / 3)
    assert text.rougeL_f1("sat the cat", "the cat sat") == pytest.approx(2 / 3)


def test_rouge_batch_and_empty_prediction():
    out = text.rouge_batch(["sat the cat", ""], ["the cat sat", "the cat"])
    assert [s.rougeL_recall for s in out] == pytest.approx([2 / 3, 0.0])
    with pytest.raises(ValueError):
        text.rouge_batch(["a"], [])


def test_sentence_bleu_by_hand():
    # "a b c d e" vs "a b c d f": n-gram precisions 4/5, 3/4, 2/3, 1/2; equal lengths -> BP = 1.
    expected = (4 / 5 * 3 / 4 * 2 / 3 * 1 / 2) ** 0.25
    assert text.sentence_bleu("a b c d e", "a b c d f") == pytest.approx(expected)
    # "a b c d" vs "a b c d e": all precisions 1, brevity penalty exp(1 - 5/4).
    assert text.sentence_bleu("a b c d", "a b c d e") == pytest.approx(math.exp(-0.25))
    assert text.sentence_bleu("the cat sat on the mat", "the cat sat on the mat") == pytest.approx(
        1.0
    )
    assert text.sentence_bleu_batch(["a b c d"], ["a b c d e"]) == pytest.approx([math.exp(-0.25)])


def test_corpus_bleu_pools_counts():
    # Matches / totals summed over both pairs: 8/9, 6/7, 4/5, 2/3; lengths 9 vs 10 -> BP exp(1 - 10/9).
    expected = (8 / 9 * 6 / 7 * 4 / 5 * 2 / 3) ** 0.25 * math.exp(1 - 10 / 9)
    got = text.corpus_bleu(["a b c d e", "a b c d"], ["a b c d f", "a b c d e"])
    assert got == pytest.approx(expected)
