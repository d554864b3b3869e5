"""Tools through the model protocol: an OpenAI-compatible stand-in streaming
``tool_calls`` deltas, a chat template that renders tools, and the bundled
base model told apart as one that cannot call them."""

from __future__ import annotations

from assistant.domain import ChatTurn, GenerationOptions, Role, ToolCall, ToolSpec
from assistant.llm.base import Finished, TextPiece, ToolCalls
from assistant.llm.prompting import TemplateFormatter
from assistant.llm.remote import OpenAICompatibleModel
from tests.standins import ToolCallingServer

WEATHER = ToolSpec(
    "get_weather",
    "The weather in a city.",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


def test_remote_streams_tool_call_deltas_then_answers_from_the_result():
    with ToolCallingServer({"get_weather": {"city": "Lisbon", "unit": "celsius"}}) as server:
        model = OpenAICompatibleModel(server.base_url, model="tool-model")
        turns = [ChatTurn(Role.USER, "Weather in Lisbon?")]
        events = list(model.stream(turns, GenerationOptions(), tools=[WEATHER]))
        calls = [e for e in events if isinstance(e, ToolCalls)]
        assert len(calls) == 1
        (call,) = calls[0].calls
        assert call.id == "call_1" and call.name == "get_weather"
        assert call.arguments == {"city": "Lisbon", "unit": "celsius"}
        assert isinstance(events[-1], Finished) and events[-1].finish_reason == "tool_calls"
        sent = server.bodies[0]
        assert sent["tools"] == [WEATHER.function()]

        follow = turns + [
            ChatTurn(Role.ASSISTANT, "", tool_calls=(call,)),
            ChatTurn(Role.TOOL, "Sunny, 24 C", tool_call_id=call.id, name=call.name),
        ]
        events = list(model.stream(follow, GenerationOptions(), tools=[WEATHER]))
        text = "".join(e.text for e in events if isinstance(e, TextPiece))
        assert text.strip() == "From the tool: Sunny, 24 C"
        assert not any(isinstance(e, ToolCalls) for e in events)
        messages = server.bodies[1]["messages"]
        assert messages[1]["tool_calls"][0]["function"] == {
            "name": "get_weather",
            "arguments": '{"city": "Lisbon", "unit": "celsius"}',
        }
        assert messages[2] == {"role": "tool", "content": "Sunny, 24 C", "tool_call_id": "call_1"}
        model.close()


def test_remote_without_tools_sends_none():
    with ToolCallingServer({"get_weather": {"city": "x"}}) as server:
        model = OpenAICompatibleModel(server.base_url, model="tool-model")
        events = list(model.stream([ChatTurn(Role.USER, "hi")], GenerationOptions()))
        assert "tools" not in server.bodies[0]
        assert "".join(e.text for e in events if isinstance(e, TextPiece)) == "Plain answer."
        model.close()


# A template written for this test the way tool-calling templates work:
# it lists the tools in the system turn and renders calls and results.
TOOL_TEMPLATE = (
    "{% if tools %}<|system|>Tools:{% for t in tools %}\n{{ t.function | tojson }}{% endfor %}"
    '\nCall one as <tool_call>{"name": ..., "arguments": ...}</tool_call>\n{% endif %}'
    "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}"
    "{% if m.tool_calls %}{% for c in m.tool_calls %}<tool_call>"
    '{"name": "{{ c.function.name }}", "arguments": {{ c.function.arguments | tojson }}}'
    "</tool_call>{% endfor %}{% endif %}\n{% endfor %}<|assistant|>"
)


def test_template_that_renders_tools_gets_them_and_the_calls_and_results():
    formatter = TemplateFormatter(TOOL_TEMPLATE, bos_token="", eos_token="</s>")
    assert formatter.renders_tools()
    call = ToolCall("abc123def", "get_weather", {"city": "Oslo"})
    turns = [
        ChatTurn(Role.USER, "Weather?"),
        ChatTurn(Role.ASSISTANT, "", tool_calls=(call,)),
        ChatTurn(Role.TOOL, "Rain", tool_call_id=call.id, name=call.name),
    ]
    text = formatter.render(turns, [WEATHER]).text
    assert '"name": "get_weather"' in text and "The weather in a city." in text
    assert '<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>' in text
    assert "<|tool|>Rain" in text


def test_template_that_ignores_tools_cannot_call_them():
    plain = TemplateFormatter(
        "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% endfor %}", "", "</s>"
    )
    assert not plain.renders_tools()


def test_bundled_base_model_cannot_call_tools(real_model):
    assert real_model.supports_tools is False
    assert real_model.tool_format is None


def test_a_reply_through_the_stand_in_calls_a_real_tool_and_answers_from_it(repo, tmp_path):
    from assistant.chat.events import ReplyDone, ToolCallDone
    from assistant.chat.service import ChatService
    from assistant.chat.tooluse import ToolUse
    from assistant.tools.builtin import builtin_tools

    (tmp_path / "plan.txt").write_text("Backups run at 02:00.", encoding="utf-8")
    tools = [t for t in builtin_tools(None, [tmp_path]) if t.name == "read_file"]
    with ToolCallingServer({"read_file": {"path": "plan.txt"}}) as server:
        model = OpenAICompatibleModel(server.base_url, model="tool-model")
        service = ChatService(repo, model, flush_interval=0.0)
        events = list(service.send(None, "When do backups run?", tools=ToolUse(tools)))
        result = next(e for e in events if isinstance(e, ToolCallDone))
        assert result.outcome == "ok" and "Backups run at 02:00." in result.message.content
        done = events[-1]
        assert isinstance(done, ReplyDone)
        assert "From the tool:" in done.message.content
        assert "Backups run at 02:00." in done.message.content
        # what went back to the server: the call, then the result quoted as data
        sent = server.bodies[1]["messages"]
        assert sent[-2]["tool_calls"][0]["function"]["name"] == "read_file"
        assert sent[-1]["role"] == "tool" and "<<<TOOL OUTPUT read_file>>>" in sent[-1]["content"]
        model.close()
