"""Tool calls read from the text of in-process models, one family at a time.

Each sample is written from the family's documented format (the model card
or the chat template's instructions), not captured from a run.
"""

from __future__ import annotations

import pytest

from assistant.llm.toolcalls import (
    ToolCallFormat,
    ToolCallScanner,
    detect_format,
    parse_tool_calls,
)

KNOWN = {"get_weather", "search_notes", "now"}


def test_hermes_qwen_single_and_several_calls_after_text():
    text = (
        "Let me check.\n<tool_call>\n"
        '{"name": "get_weather", "arguments": {"city": "Lisbon", "unit": "celsius"}}\n'
        "</tool_call>\n<tool_call>\n"
        '{"name": "now", "arguments": {}}\n</tool_call>'
    )
    rest, calls = parse_tool_calls(text, ToolCallFormat.HERMES, KNOWN)
    assert rest == "Let me check."
    assert [(c.name, dict(c.arguments)) for c in calls] == [
        ("get_weather", {"city": "Lisbon", "unit": "celsius"}),
        ("now", {}),
    ]
    assert all(len(c.id) == 9 and c.id.isalnum() for c in calls)


def test_hermes_arguments_given_as_a_json_string_and_unclosed_tag():
    text = '<tool_call>\n{"name": "search_notes", "arguments": "{\\"query\\": \\"backup\\"}"}'
    _, calls = parse_tool_calls(text, ToolCallFormat.HERMES, KNOWN)
    assert calls[0].name == "search_notes" and calls[0].arguments == {"query": "backup"}


def test_hermes_broken_json_is_text():
    text = "<tool_call>{not json}</tool_call>"
    assert parse_tool_calls(text, ToolCallFormat.HERMES, KNOWN) == (text, [])


def test_llama3_json_with_parameters_and_python_tag():
    text = '<|python_tag|>{"name": "get_weather", "parameters": {"city": "Oslo"}}'
    rest, calls = parse_tool_calls(text, ToolCallFormat.LLAMA3, KNOWN)
    assert rest == "" and calls[0].name == "get_weather" and calls[0].arguments == {"city": "Oslo"}
    text = (
        '{"name": "now", "parameters": {}}; {"name": "get_weather", "parameters": {"city": "Rome"}}'
    )
    _, calls = parse_tool_calls(text, ToolCallFormat.LLAMA3, KNOWN)
    assert [c.name for c in calls] == ["now", "get_weather"]


def test_llama3_json_answer_that_names_no_offered_tool_is_text():
    text = '{"name": "Ada Lovelace", "parameters": {"born": 1815}}'
    assert parse_tool_calls(text, ToolCallFormat.LLAMA3, KNOWN) == (text, [])


def test_pythonic_list_llama32_and_gemma_tool_code_block():
    text = '[get_weather(city="San Francisco", days=3), now()]'
    rest, calls = parse_tool_calls(text, ToolCallFormat.PYTHONIC, KNOWN)
    assert rest == ""
    assert [(c.name, dict(c.arguments)) for c in calls] == [
        ("get_weather", {"city": "San Francisco", "days": 3}),
        ("now", {}),
    ]
    text = "I will look.\n```tool_code\nsearch_notes(query='backup schedule')\n```"
    rest, calls = parse_tool_calls(text, ToolCallFormat.PYTHONIC, KNOWN)
    assert rest == "I will look." and calls[0].arguments == {"query": "backup schedule"}


def test_pythonic_never_evaluates_anything():
    text = '[get_weather(city=__import__("os").system("echo hi"))]'
    assert parse_tool_calls(text, ToolCallFormat.PYTHONIC, KNOWN) == (text, [])
    text = "[1, 2, 3]"
    assert parse_tool_calls(text, ToolCallFormat.PYTHONIC, KNOWN) == (text, [])


def test_mistral_v3_json_list_and_v11_args_form():
    text = (
        '[TOOL_CALLS] [{"name": "get_weather", "arguments": {"city": "Paris"}, "id": "a1b2c3d4e"}]'
    )
    rest, calls = parse_tool_calls(text, ToolCallFormat.MISTRAL, KNOWN)
    assert rest == "" and calls[0].id == "a1b2c3d4e" and calls[0].arguments == {"city": "Paris"}
    text = '[TOOL_CALLS]get_weather[ARGS]{"city": "Nice"}[TOOL_CALLS]now[ARGS]{}'
    _, calls = parse_tool_calls(text, ToolCallFormat.MISTRAL, KNOWN)
    assert [(c.name, dict(c.arguments)) for c in calls] == [
        ("get_weather", {"city": "Nice"}),
        ("now", {}),
    ]
    text = "[TOOL_CALLS]now[CALL_ID]x9y8z7w6v[ARGS]{}"
    _, calls = parse_tool_calls(text, ToolCallFormat.MISTRAL, KNOWN)
    assert calls[0].id == "x9y8z7w6v"


def test_functiongemma_escape_strings_and_literals():
    text = (
        "<start_function_call>call:get_weather{city:<escape>New York, NY<escape>,days:2}"
        "<end_function_call>"
    )
    rest, calls = parse_tool_calls(text, ToolCallFormat.FUNCTIONGEMMA, KNOWN)
    assert rest == "" and calls[0].arguments == {"city": "New York, NY", "days": 2}


def test_unknown_format_tries_each():
    text = '<tool_call>{"name": "now", "arguments": {}}</tool_call>'
    assert parse_tool_calls(text, None, KNOWN)[1][0].name == "now"
    assert parse_tool_calls("Just an answer.", None, KNOWN) == ("Just an answer.", [])


@pytest.mark.parametrize(
    ("template", "fmt"),
    [
        ("{% for tool in tools %}<tools>{{ tool | tojson }}</tools>{% endfor %}"
         " reply inside <tool_call></tool_call> XML tags", ToolCallFormat.HERMES),
        ("{% if tools %}[AVAILABLE_TOOLS]{{ tools|tojson }}[/AVAILABLE_TOOLS]{% endif %}"
         "{% if message.tool_calls %}[TOOL_CALLS]{% endif %}", ToolCallFormat.MISTRAL),
        ("<|start_header_id|>ipython<|end_header_id|> Respond in the format "
         '{"name": function name, "parameters": dictionary}', ToolCallFormat.LLAMA3),
        ("<|start_header_id|>ipython<|end_header_id|> you MUST put it in the format of "
         "[func_name1(params_name1=params_value1)]", ToolCallFormat.PYTHONIC),
        ("{{ '<start_function_call>' }}", ToolCallFormat.FUNCTIONGEMMA),
        ("{{ messages }}", None),
    ],
)  # fmt: skip
def test_format_detected_from_the_template(template, fmt):
    assert detect_format(template) == fmt


def test_scanner_streams_text_and_holds_the_call():
    scanner = ToolCallScanner(ToolCallFormat.HERMES, KNOWN)
    pieces = ["Let me ", "look.", "\n<tool", '_call>{"name": "now", ', '"arguments": {}}']
    shown = "".join(scanner.feed(p) for p in pieces + ["</tool_call>"])
    assert shown == "Let me look.\n"
    rest, calls = scanner.finish()
    assert rest == "" and calls[0].name == "now"


def test_scanner_gives_back_what_was_no_call():
    scanner = ToolCallScanner(ToolCallFormat.LLAMA3, KNOWN)
    shown = scanner.feed('{"a": ') + scanner.feed("1}")
    assert shown == ""  # a reply that opens like a call is held...
    rest, calls = scanner.finish()
    assert calls == [] and rest == '{"a": 1}'  # ...and given back whole when it is not one
    scanner = ToolCallScanner(ToolCallFormat.HERMES, KNOWN)
    assert scanner.feed("a <tool") == "a "
    assert scanner.finish() == ("<tool", [])
