"""Library errors are shortened at a sentence or word end, never mid-word or mid-sentence silently."""

from __future__ import annotations

from radiview.io.formats import describe_exception, whole_sentences


def test_short_messages_are_untouched() -> None:
    assert whole_sentences("the file ends early") == "the file ends early"


def test_long_messages_end_at_a_sentence_or_a_marked_word_boundary() -> None:
    first = "The JPEG stream declares 12-bit samples but the frame header says 8. "
    text = first + "Further detail follows here, " * 20
    assert whole_sentences(text, limit=200) == first.strip()
    words = "word " * 100
    cut = whole_sentences(words, limit=52)
    assert cut.endswith(" …") and cut[:-2].split() == ["word"] * 10
    assert len(cut) <= 52 + 2


def test_describe_exception_keeps_the_whole_first_sentence() -> None:
    exc = ValueError(
        "Invalid value for VR DS: '1.2.3.4.5.6.7.8.9.10.11.12.13.14' exceeds 16 characters. " * 3
    )
    text = describe_exception(exc)
    assert text.startswith("ValueError: Invalid value for VR DS")
    assert text.endswith("exceeds 16 characters.")
