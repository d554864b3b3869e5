from __future__ import annotations

import pytest

from assistant.domain import ChatTurn, Role
from assistant.llm.base import StopScanner
from assistant.llm.prompting import TemplateFormatter, TranscriptFormatter
from assistant.textsafe import has_control, sanitize

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

TURNS = [
    ChatTurn(Role.SYSTEM, "Be brief."),
    ChatTurn(Role.USER, "Hi"),
    ChatTurn(Role.ASSISTANT, "Hello!"),
    ChatTurn(Role.USER, "Bye"),
]


def test_transcript_prompt_and_stops():
    rendered = TranscriptFormatter().render(TURNS)
    assert rendered.text == "Be brief.\n\nUser: Hi\nAssistant: Hello!\nUser: Bye\nAssistant:"
    assert "\nUser:" in rendered.stop and rendered.add_bos


def test_gguf_template_rendered():
    rendered = TemplateFormatter(CHATML, bos_token="<s>", eos_token="<|im_end|>").render(TURNS)
    assert rendered.text.endswith("<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n")
    assert "<|im_end|>" in rendered.stop


def test_template_runs_in_a_sandbox():
    from assistant.errors import ModelError

    evil = "{{ ''.__class__.__mro__[1].__subclasses__() }}"
    formatter = TemplateFormatter(evil, bos_token="", eos_token="", source="m.gguf")
    with pytest.raises(ModelError, match="in m.gguf tries to run code, which the sandbox"):
        formatter.render(TURNS)


@pytest.mark.parametrize(
    ("pieces", "expected"),
    [
        (["Hello", " there", "\nUs", "er: next"], "Hello there"),
        (["  leading", " space"], "leading space"),
        (["a\n", "b"], "a\nb"),  # a held-back newline is released when it is not a stop
        (["no stop at all"], "no stop at all"),
    ],
)
def test_stop_scanner(pieces, expected):
    sc = StopScanner(["\nUser:", "User:"])
    out = "".join(sc.feed(p) for p in pieces) + sc.flush()
    assert out == expected


def test_sanitize_makes_controls_visible():
    text = "ok\x1b[31mred\x1b]52;c;AAAA\x07\r\x9b\x00end\n\ttab"
    clean = sanitize(text)
    assert not has_control(clean)
    assert clean == "ok^[[31mred^[]52;c;AAAA^G^M<U+009B>^@end\n\ttab"
    assert sanitize("line\r\nnext") == "line\nnext"
