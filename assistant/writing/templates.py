"""Prompt templates and personas as data files, validated on load.

A template is a Markdown file with YAML front matter (the body is the prompt) or
a YAML file with a ``template`` key. Bundled files ship inside the package as
``assistant.bundled_prompts``; files in the user's prompt folder
(``app_paths().user_prompts``) add templates or replace bundled ones *by name*.
Placeholders are ``{{ name }}`` and nothing else: no code runs inside a
template, so a user file can never do more than produce text.

The shape of the front matter is checked by pydantic models that forbid unknown
keys (``TemplateFrontMatter`` with its ``VariableSpec`` and ``ExampleSpec``
entries, ``PersonaFrontMatter``; the YAML forms add the prompt key). The rules
that look across keys or at the body (placeholders used and declared, names,
``argument``, example variables) follow in plain code. Every problem is one
``TemplateError`` sentence that starts with the file; a pydantic error is
translated into such a sentence, never shown as it is.

Compose templates (``compose/`` in either folder) write a new piece from a
brief (article, story, email...): the same format and checks, ``result: new``,
and an optional ``compose`` key (``ComposeSpec``: the piece's noun, whether a
long piece gets section headings, fallback section titles). The prompts that
plan and write a long piece section by section are templates too
(``compose/stages/``). A top-level template may not carry ``compose``.

``result`` says what a template's answer is. ``edit``: the answer replaces the
input text (proofread, rewrite, translate, tone...), so it can be shown as a
diff and written back to the file (``--diff``, ``--in-place``). ``new``: the
answer is a new text (title, summary, outline, reply...). A file without
``result`` (user files written before the key existed) counts as ``new``: only a
template that says ``result: edit`` may ever overwrite a user's file. An
``edit`` template must keep ``long_text: chunks`` so that every part of a long
text is edited, not a summary or the end of it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails

from assistant.domain import ChatTurn, Role
from assistant.errors import TemplateError, WritingError

# The text's language by name, for document layouts ("Chinese: ...\nEnglish:"),
# and the template's sample sentences in it and in the ``language`` asked for.
TEXT_LANGUAGE = "text_language"
SAMPLE_TEXT = "sample_text"
SAMPLE_TARGET = "sample_target"
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
TEMPLATE_SUFFIXES = (".md", ".yaml", ".yml")

# What a template's answer is: an edited version of the input, or a new text.
Result = Literal["edit", "new"]
RESULTS: tuple[str, ...] = get_args(Result)
DEFAULT_RESULT: Result = "new"

# How a template copes with text longer than one context window.
LongText = Literal["chunks", "map_reduce", "tail"]
LONG_TEXT_STRATEGIES: tuple[str, ...] = get_args(LongText)

# Allowed ranges of the numeric settings: (low, high), both included.
TEMPERATURE_RANGE = (0.0, 5.0)
MAX_TOKENS_RANGE = (1, 1_000_000)
OUTPUT_RATIO_RANGE = (0.05, 8.0)
DEFAULT_OUTPUT_RATIO = 1.3
_NUMBER_RULES: dict[str, tuple[str, float, float]] = {
    "temperature": ("a number", *TEMPERATURE_RANGE),
    "max_tokens": ("a whole number", *MAX_TOKENS_RANGE),
    "output_ratio": ("a number", *OUTPUT_RATIO_RANGE),
}


@dataclass(frozen=True)
class Variable:
    """A named slot in a template. ``values`` maps a short word the user types
    (``short``, ``formal``) to the phrase the model sees."""

    name: str
    default: str | None = None
    description: str = ""
    values: Mapping[str, str] = field(default_factory=dict)
    suggestions: tuple[str, ...] = ()

    @property
    def choices(self) -> tuple[str, ...]:
        """Words offered for completion (not enforced: any value is accepted)."""
        return tuple(dict.fromkeys([*self.values, *self.suggestions]))

    def resolve(self, value: str) -> str:
        return self.values.get(value.strip().lower(), value)


@dataclass(frozen=True)
class Example:
    text: str
    output: str
    variables: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ComposeSettings:
    """How a compose template's long pieces are planned and stitched."""

    noun: str  # what the piece is, as the outline and section prompts name it
    headings: bool = False  # a long piece's sections get "## Title" lines
    sections: tuple[str, ...] = ()  # titles used when the model's outline cannot be read


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    description: str
    body: str
    source: str
    system: str | None = None
    persona: str | None = None
    variables: Mapping[str, Variable] = field(default_factory=dict)
    argument: str | None = None
    aliases: tuple[str, ...] = ()
    long_text: str = "chunks"
    temperature: float | None = None
    max_tokens: int | None = None
    output_ratio: float = 1.3
    stop: tuple[str, ...] = ()
    examples: tuple[Example, ...] = ()
    result: Result = DEFAULT_RESULT
    compose: ComposeSettings | None = None
    # Per language code: the request as a document a base model completes
    # (no instruction, no example); its last line is the cue the answer follows.
    document: Mapping[str, str] = field(default_factory=dict)
    # One sentence in each language (by name, any case), for a document's
    # worked example: {{ sample_text }} in the text's language and
    # {{ sample_target }} in the ``language`` variable's.
    samples: Mapping[str, str] = field(default_factory=dict)

    @property
    def edits_text(self) -> bool:
        """True when the result replaces the input (``result: edit``: proofread,
        rewrite...): such results can be shown as a diff and written back to the
        file. False for a new text (``result: new``, and any file without
        ``result``)."""
        return self.result == "edit"

    def resolve_values(self, given: Mapping[str, str] | None = None) -> dict[str, str]:
        """Defaults merged with ``given``; raises a clear error for an unknown or
        missing variable."""
        given = dict(given or {})
        unknown = sorted(set(given) - set(self.variables) - {"text"})
        if unknown:
            have = ", ".join(sorted(self.variables)) or "none"
            raise WritingError(
                f"The '{self.name}' template has no variable '{unknown[0]}' (it has: {have})."
            )
        values: dict[str, str] = {}
        for name, var in self.variables.items():
            raw = given.get(name, var.default)
            if raw is None or not str(raw).strip():
                hint = f"--var {name}=VALUE"
                if name == "language":
                    hint = "--to LANGUAGE"
                elif name == "tone":
                    hint = "--tone TONE"
                raise WritingError(
                    f"The '{self.name}' template needs a value for '{name}' (give {hint})."
                )
            values[name] = var.resolve(str(raw))
        return values

    def _fill(self, pattern: str, text: str, values: Mapping[str, str]) -> str:
        def sub(match: re.Match[str]) -> str:
            key = match.group(1)
            return text if key == "text" else values[key]

        return PLACEHOLDER.sub(sub, pattern)

    def render(
        self,
        text: str,
        given: Mapping[str, str] | None = None,
        persona: Persona | None = None,
    ) -> list[ChatTurn]:
        """The chat turns for ``text``: system prompt, worked examples as earlier
        turns (a small base model copies a format far better than it follows an
        instruction), then the request."""
        values = self.resolve_values(given)
        turns: list[ChatTurn] = []
        system_parts = [p.strip() for p in (persona.system if persona else None, self.system) if p]
        if system_parts:
            turns.append(
                ChatTurn(Role.SYSTEM, self._fill("\n\n".join(system_parts), "", values).strip())
            )
        for example in self.examples:
            example_values = {
                **values,
                **{k: self.variables[k].resolve(v) for k, v in example.variables.items()},
            }
            turns.append(
                ChatTurn(
                    Role.USER, self._fill(self.body, example.text.strip(), example_values).strip()
                )
            )
            turns.append(ChatTurn(Role.ASSISTANT, example.output.strip()))
        turns.append(ChatTurn(Role.USER, self._fill(self.body, text.strip(), values).strip()))
        return turns

    def render_document(
        self, text: str, language: str, given: Mapping[str, str] | None = None
    ) -> ChatTurn | None:
        """The request as a document for a model without a chat template: the
        layout for ``language`` (the text's, an ISO code; English when the
        template has none for it), its last line the cue. None when the
        template has no document layout."""
        layout = self.document.get(language) or self.document.get("en")
        if layout is None:
            return None
        from assistant.language import language_name

        values = {
            **self.resolve_values(given),
            TEXT_LANGUAGE: language_name(language) or "English",
        }
        samples = {k.strip().lower(): v.strip() for k, v in self.samples.items()}
        source = samples.get(values[TEXT_LANGUAGE].lower())
        target = samples.get(values.get("language", "").lower())
        if source and target and source != target:
            values |= {SAMPLE_TEXT: source, SAMPLE_TARGET: target}
        # a paragraph needing a value there is none of (no sample sentence
        # for a language) is left out
        paragraphs = [
            p
            for p in re.split(r"\n\s*\n", layout.strip())
            if _placeholders(p) <= set(values) | {"text"}
        ]
        filled = self._fill("\n\n".join(paragraphs), text.strip(), values)
        body, _, cue = filled.rpartition("\n")
        return ChatTurn(Role.USER, body.rstrip(), cue=cue.strip())


@dataclass(frozen=True)
class Persona:
    """A system prompt kept as a file, selectable per conversation."""

    name: str
    description: str
    system: str
    source: str


@dataclass
class PromptLibrary:
    templates: dict[str, PromptTemplate]
    personas: dict[str, Persona]
    compose: dict[str, PromptTemplate] = field(default_factory=dict)
    compose_stages: dict[str, PromptTemplate] = field(default_factory=dict)
    # One sentence per user file that was skipped (it names the file); the
    # shells show them as warnings.
    problems: list[str] = field(default_factory=list)

    def template(self, name: str) -> PromptTemplate:
        key = name.strip().lower()
        if key in self.templates:
            return self.templates[key]
        for template in self.templates.values():
            if key in template.aliases:
                return template
        known = ", ".join(sorted(self.templates))
        raise WritingError(f"There is no writing action called '{name}' (try one of: {known}).")

    def persona(self, name: str) -> Persona:
        key = name.strip().lower()
        if key in self.personas:
            return self.personas[key]
        known = ", ".join(sorted(self.personas)) or "none"
        raise WritingError(f"There is no persona called '{name}' (try one of: {known}).")

    def compose_template(self, name: str) -> PromptTemplate:
        """The compose template for a kind of piece (``article``, ``blog``...)."""
        key = name.strip().lower()
        if key in self.compose:
            return self.compose[key]
        for template in self.compose.values():
            if key in template.aliases:
                return template
        known = ", ".join(sorted(self.compose)) or "none"
        raise WritingError(f"There is no kind of piece called '{name}' (try one of: {known}).")

    def compose_stage(self, name: str) -> PromptTemplate:
        """A prompt of the long-piece pipeline (``outline``, ``section``)."""
        if name not in self.compose_stages:
            raise TemplateError(
                f"The compose prompt 'compose/stages/{name}.md' is missing; reinstall "
                "assistant or restore the file in your prompts folder."
            )
        return self.compose_stages[name]

    def names(self) -> list[str]:
        """Template names and aliases, for completion."""
        out = list(self.templates)
        for template in self.templates.values():
            out.extend(template.aliases)
        return sorted(set(out))


# ------------------------------------------------------------ front matter
# Shapes only. Text fields accept numbers too (``description: 2024`` is text);
# a YAML boolean (``yes``, ``off``) is not text and is reported as such.
# ``None`` (a key with nothing after the colon) counts as absent.
def _lower_keys(value: object) -> object:
    """Words the user types are matched lower-case: normalise the map's keys."""
    if isinstance(value, dict):
        return {str(k).strip().lower(): v for k, v in value.items()}
    return value


def _variable_shorthands(value: object) -> object:
    """``season: winter`` is short for ``season: {default: winter}``."""
    if not isinstance(value, dict):
        return value
    specs: dict[str, object] = {}
    for name, spec in value.items():
        if spec is None:
            spec = {}
        elif isinstance(spec, str | int | float):  # bool too: reported as "must be text"
            spec = {"default": spec}
        specs[str(name)] = spec
    return specs


WordMap = Annotated[dict[str, str], BeforeValidator(_lower_keys)]
NonEmptyText = Annotated[str, Field(min_length=1)]
Temperature = Annotated[float, Field(strict=True, ge=TEMPERATURE_RANGE[0], le=TEMPERATURE_RANGE[1])]
MaxTokens = Annotated[int, Field(strict=True, ge=MAX_TOKENS_RANGE[0], le=MAX_TOKENS_RANGE[1])]
OutputRatio = Annotated[
    float, Field(strict=True, ge=OUTPUT_RATIO_RANGE[0], le=OUTPUT_RATIO_RANGE[1])
]


class _FrontMatter(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)


class VariableSpec(_FrontMatter):
    """One entry under ``variables`` (or a bare default value, see above)."""

    default: str | None = None
    description: str | None = None
    values: WordMap | None = None
    suggestions: list[str] | None = None


VariableSpecs = Annotated[dict[str, VariableSpec], BeforeValidator(_variable_shorthands)]


class ExampleSpec(_FrontMatter):
    """One worked example under ``examples``."""

    text: str
    output: str
    variables: WordMap | None = None


class ComposeSpec(_FrontMatter):
    """The ``compose`` key of a compose template."""

    noun: NonEmptyText | None = None
    headings: bool | None = None
    sections: list[NonEmptyText] | None = None


class TemplateFrontMatter(_FrontMatter):
    """The front matter of a Markdown template (the prompt is the body)."""

    name: str | None = None
    description: str | None = None
    result: Result | None = None
    system: str | None = None
    persona: str | None = None
    variables: VariableSpecs | None = None
    argument: str | None = None
    aliases: list[str] | None = None
    long_text: LongText | None = None
    temperature: Temperature | None = None
    max_tokens: MaxTokens | None = None
    output_ratio: OutputRatio | None = None
    stop: list[NonEmptyText] | None = None
    examples: list[ExampleSpec] | None = None
    compose: ComposeSpec | None = None
    document: WordMap | None = None
    samples: dict[str, NonEmptyText] | None = None


class YamlTemplate(TemplateFrontMatter):
    """A YAML template: the same keys, and the prompt under ``template``."""

    template: str


class PersonaFrontMatter(_FrontMatter):
    """The front matter of a Markdown persona (the system prompt is the body)."""

    name: str | None = None
    description: str | None = None


class YamlPersona(PersonaFrontMatter):
    """A YAML persona: the same keys, and the system prompt under ``system``."""

    system: str


TEMPLATE_KEYS = frozenset(YamlTemplate.model_fields)
VARIABLE_KEYS = frozenset(VariableSpec.model_fields)
EXAMPLE_KEYS = frozenset(ExampleSpec.model_fields)
PERSONA_KEYS = frozenset(YamlPersona.model_fields)

_Spec = TypeVar("_Spec", bound=_FrontMatter)


def _validate(model: type[_Spec], data: Mapping[str, Any], source: str) -> _Spec:
    """``model`` filled from ``data``, or a ``TemplateError`` in one sentence."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
    # an unknown key first: a misspelt key often explains the other errors
    first = min(errors, key=lambda e: e["type"] != "extra_forbidden")
    raise TemplateError(f"{source}: {_error_sentence(first, model)}")


# ------------------------------------------------- pydantic errors in words
def _container(
    loc: Sequence[str | int], root: type[_FrontMatter]
) -> tuple[str | None, type[_FrontMatter], tuple[str | int, ...]]:
    """Who holds the key at ``loc``: (``"variable 'x'"``, ``"example 2"`` or None
    for the file's top level), its model, and the key path inside it."""
    if len(loc) >= 2 and loc[0] == "variables" and issubclass(root, TemplateFrontMatter):
        return f"variable '{loc[1]}'", VariableSpec, tuple(loc[2:])
    if len(loc) >= 2 and loc[0] == "examples" and isinstance(loc[1], int):
        return f"example {loc[1] + 1}", ExampleSpec, tuple(loc[2:])
    if len(loc) >= 2 and loc[0] == "compose" and issubclass(root, TemplateFrontMatter):
        return "'compose'", ComposeSpec, tuple(loc[1:])
    return None, root, tuple(loc)


def _key_path(path: Sequence[str | int]) -> str:
    """``('values', 'short')`` -> ``'values.short'``; ``('stop', 0)`` -> ``'stop' item 1``."""
    keys = ".".join(str(p) for p in path if isinstance(p, str) and p != "[key]")
    items = "".join(f" item {p + 1}" for p in path if isinstance(p, int))
    return f"'{keys}'{items}"


def _range(low: float, high: float) -> str:
    def show(n: float) -> str:
        return f"{n:,}" if isinstance(n, int) else str(n)

    return f"between {show(low)} and {show(high)}"


_NUMBER_ERRORS = frozenset(
    {
        "int_type",
        "int_parsing",
        "int_from_float",
        "float_type",
        "float_parsing",
        "finite_number",
        "greater_than_equal",
        "less_than_equal",
        "greater_than",
        "less_than",
    }
)
_BOOL_HINT = (
    " (put it in quotes: YAML reads yes, no, on, off, true and false as a true/false value)"
)


def _error_sentence(error: ErrorDetails, root: type[_FrontMatter]) -> str:
    """The first pydantic error as a plain sentence naming the key (without the
    file, which the caller puts first)."""
    kind, loc, ctx = error["type"], error["loc"], error.get("ctx") or {}
    top = "the persona" if issubclass(root, PersonaFrontMatter) else "the template"
    if kind == "invalid_key":
        owner, _, _ = _container(loc[:-1], root)
        return f"the key {loc[-1]!r} in {owner or top} is not a name."
    owner, model, path = _container(loc, root)
    subject = _key_path(path) if path else (owner or top)
    if path and owner:
        subject = f"{subject} of {owner}"
    if kind == "extra_forbidden":
        allowed = ", ".join(sorted(model.model_fields))
        return f"unknown key '{path[-1]}' in {owner or top} (allowed: {allowed})."
    if kind == "missing":
        return f"the '{path[-1]}' key is missing" + (f" in {owner}." if owner else ".")
    if kind in ("string_type", "string_sub_type", "string_unicode"):
        hint = _BOOL_HINT if isinstance(error["input"], bool) else ""
        return f"{subject} must be text{hint}."
    if kind == "string_too_short":
        return f"{subject} must not be empty."
    if kind in _NUMBER_ERRORS:
        if len(path) == 1 and owner is None and path[0] in _NUMBER_RULES:
            what, low, high = _NUMBER_RULES[str(path[0])]
            return f"'{path[0]}' must be {what} {_range(low, high)}."
        return f"{subject} must be {'a whole number' if kind.startswith('int') else 'a number'}."
    if kind in ("bool_type", "bool_parsing"):
        return f"{subject} must be true or false."
    if kind in ("list_type", "tuple_type", "set_type", "iterable_type"):
        return f"{subject} must be a list."
    if kind in ("dict_type", "model_type", "model_attributes_type", "mapping_type"):
        if tuple(loc) == ("variables",):
            return "'variables' must map each variable name to its settings."
        if owner and not path and model is VariableSpec:
            return f"{owner} must be a default value or key: value pairs."
        if owner and not path:
            return f"{owner} must have 'text' and 'output'."
        return f"{subject} must be key: value pairs."
    if kind == "literal_error":
        given = error["input"]
        got = f", not {given!r}" if isinstance(given, str) and len(given) <= 40 else ""
        return f"{subject} must be {ctx.get('expected', 'one of the allowed values')}{got}."
    message = str(error["msg"]).rstrip(".")
    return f"{subject} is not valid ({message[:1].lower()}{message[1:]})."


# ----------------------------------------------------------------- parsing
def _split_front_matter(raw: str, source: str) -> tuple[dict[str, Any], str]:
    text = raw.lstrip("\ufeff")
    if not text.startswith("---"):
        raise TemplateError(f"{source}: a Markdown template must start with a '---' front matter.")
    lines = text.splitlines(keepends=True)
    for i in range(1, len(lines)):
        if lines[i].strip() == "---":
            head = "".join(lines[1:i])
            body = "".join(lines[i + 1 :])
            return _yaml_mapping(head, source), body
    raise TemplateError(f"{source}: the front matter has no closing '---' line.")


def _yaml_mapping(text: str, source: str) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise TemplateError(f"{source}: invalid YAML{where}.") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise TemplateError(f"{source}: expected key: value pairs at the top level.")
    return data


def _read(path: Traversable | Path, source: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise TemplateError(f"{source}: the file is not UTF-8 text.") from None
    except OSError as exc:
        raise TemplateError(f"{source}: cannot be read ({exc.strerror or exc}).") from None


def _placeholders(text: str) -> set[str]:
    return {m.group(1) for m in PLACEHOLDER.finditer(text)}


def _variables(spec: TemplateFrontMatter, source: str) -> dict[str, Variable]:
    variables: dict[str, Variable] = {}
    for name, var in (spec.variables or {}).items():
        if not VARIABLE_NAME.match(name) or name == "text":
            raise TemplateError(f"{source}: '{name}' is not a valid variable name.")
        variables[name] = Variable(
            name=name,
            default=var.default,
            description=var.description or "",
            values=dict(var.values or {}),
            suggestions=tuple(var.suggestions or ()),
        )
    return variables


def _examples(
    spec: TemplateFrontMatter, variables: Mapping[str, Variable], source: str
) -> tuple[Example, ...]:
    examples: list[Example] = []
    for i, item in enumerate(spec.examples or (), 1):
        given = dict(item.variables or {})
        unknown = sorted(set(given) - set(variables))
        if unknown:
            raise TemplateError(f"{source}: example {i} sets unknown variable '{unknown[0]}'.")
        examples.append(Example(text=item.text, output=item.output, variables=given))
    return tuple(examples)


_LABEL_LINE = re.compile(r"^([^\s:：{][^:：{}]{0,30})[:：]", re.MULTILINE)


def document_stops(
    template: PromptTemplate, language: str, given: Mapping[str, str] | None = None
) -> tuple[str, ...]:
    """The labels of a document layout ("Text:", "Summary:", "Chinese:"), as
    stop strings: a base model that starts one on a new line has run past its
    answer."""
    turn = template.render_document("", language, given)
    if turn is None:
        return ()
    layout = f"{turn.content}\n{turn.cue}"
    labels = dict.fromkeys(m.group(1).strip() for m in _LABEL_LINE.finditer(layout))
    return tuple(f"\n{label}{colon}" for label in labels for colon in (":", "："))


def _document(
    spec: TemplateFrontMatter, variables: Mapping[str, Variable], source: str
) -> dict[str, str]:
    """The ``document`` layouts, checked like the template text."""
    out: dict[str, str] = {}
    for language, layout in (spec.document or {}).items():
        used = _placeholders(layout)
        if "text" not in used:
            raise TemplateError(f"{source}: the '{language}' document never uses '{{{{ text }}}}'.")
        missing = sorted(
            used - set(variables) - {"text", TEXT_LANGUAGE, SAMPLE_TEXT, SAMPLE_TARGET}
        )
        if missing:
            raise TemplateError(
                f"{source}: the '{language}' document uses '{{{{ {missing[0]} }}}}' but "
                f"declares no variable '{missing[0]}' under 'variables'."
            )
        if "\n" not in layout.strip():
            raise TemplateError(
                f"{source}: the '{language}' document needs a last line of its own (the cue "
                "the answer follows, such as 'Summary:')."
            )
        out[language] = layout
    return out


def parse_template(raw: str, source: str, fallback_name: str) -> PromptTemplate:
    """Validate one template file's text; every problem names ``source``."""
    spec: TemplateFrontMatter
    if source.endswith(".md"):
        data, body = _split_front_matter(raw, source)
        if "template" in data:
            raise TemplateError(
                f"{source}: a Markdown template keeps its prompt in the body, not in 'template'."
            )
        spec = _validate(TemplateFrontMatter, data, source)
    else:
        yaml_spec = _validate(YamlTemplate, _yaml_mapping(raw, source), source)
        spec, body = yaml_spec, yaml_spec.template
    name = (spec.name or fallback_name).strip().lower()
    if not NAME.match(name):
        raise TemplateError(
            f"{source}: '{name}' is not a valid name (lower-case letters, digits, - and _)."
        )
    if not body.strip():
        raise TemplateError(f"{source}: the template text is empty.")
    variables = _variables(spec, source)
    system = spec.system or None
    used = _placeholders(body)
    if system:
        if "text" in _placeholders(system):
            raise TemplateError(
                f"{source}: '{{{{ text }}}}' belongs in the template, not 'system'."
            )
        used |= _placeholders(system)
    if "text" not in used:
        raise TemplateError(f"{source}: the template never uses '{{{{ text }}}}'.")
    missing = sorted(used - set(variables) - {"text"})
    if missing:
        raise TemplateError(
            f"{source}: the template uses '{{{{ {missing[0]} }}}}' but declares no variable "
            f"'{missing[0]}' under 'variables'."
        )
    document = _document(spec, variables, source)
    argument = spec.argument or None
    if argument is not None and argument not in variables:
        raise TemplateError(f"{source}: 'argument' names '{argument}', which is not a variable.")
    result: Result = spec.result or DEFAULT_RESULT
    long_text: LongText = spec.long_text or "chunks"
    if result == "edit" and long_text != "chunks":
        raise TemplateError(
            f"{source}: 'result: edit' needs 'long_text: chunks' (an edit must go through "
            f"the whole text), so drop 'long_text: {long_text}' or say 'result: new'."
        )
    persona = (spec.persona or "").strip().lower() or None
    compose = None
    if spec.compose is not None:
        compose = ComposeSettings(
            noun=(spec.compose.noun or "").strip() or f"a {name.replace('-', ' ')}",
            headings=bool(spec.compose.headings),
            sections=tuple(t.strip() for t in spec.compose.sections or ()),
        )
    return PromptTemplate(
        name=name,
        description=(spec.description or "").strip() or name,
        body=body.strip() + "\n",
        source=source,
        system=system,
        persona=persona,
        variables=variables,
        argument=argument,
        aliases=tuple(a.strip().lower() for a in spec.aliases or ()),
        long_text=long_text,
        temperature=spec.temperature,
        max_tokens=spec.max_tokens,
        output_ratio=(spec.output_ratio if spec.output_ratio is not None else DEFAULT_OUTPUT_RATIO),
        stop=tuple(spec.stop or ()),
        examples=_examples(spec, variables, source),
        result=result,
        compose=compose,
        document=document,
        samples=dict(spec.samples or {}),
    )


def parse_persona(raw: str, source: str, fallback_name: str) -> Persona:
    """Validate one persona file's text; every problem names ``source``."""
    spec: PersonaFrontMatter
    if source.endswith(".md"):
        data, body = _split_front_matter(raw, source)
        if "system" in data:
            raise TemplateError(f"{source}: a Markdown persona keeps its prompt in the body.")
        spec = _validate(PersonaFrontMatter, data, source)
    else:
        yaml_spec = _validate(YamlPersona, _yaml_mapping(raw, source), source)
        spec, body = yaml_spec, yaml_spec.system
    name = (spec.name or fallback_name).strip().lower()
    if not NAME.match(name):
        raise TemplateError(f"{source}: '{name}' is not a valid persona name.")
    if not body.strip():
        raise TemplateError(f"{source}: the persona's system prompt is empty.")
    return Persona(
        name=name,
        description=(spec.description or "").strip() or name,
        system=body.strip(),
        source=source,
    )


# ----------------------------------------------------------------- loading
def bundled_root() -> Traversable:
    return files("assistant.bundled_prompts")


def _entries(
    folder: Traversable | Path, label: str, problems: list[str] | None = None
) -> list[Traversable | Path]:
    try:
        if not folder.is_dir():
            return []
        items = list(folder.iterdir())
    except OSError as exc:
        if problems is not None:
            why = (exc.strerror or str(exc)).lower()
            problems.append(f"{label}: the folder cannot be read ({why}); it is skipped.")
        return []
    return sorted(
        (i for i in items if i.name.endswith(TEMPLATE_SUFFIXES) and not i.name.startswith(".")),
        key=lambda i: i.name,
    )


def _stem(name: str) -> str:
    return name.rsplit(".", 1)[0].lower()


def _load_templates(
    folder: Traversable | Path,
    label: str,
    templates: dict[str, PromptTemplate],
    role: Literal["action", "compose", "stage"],
    skip: Callable[[TemplateError], None],
    problems: list[str] | None,
) -> None:
    """The templates of one folder into ``templates``. Compose templates and
    stages write new text (``result: new``) and may carry compose settings;
    writing actions may not; a compose template needs its ``length``. A
    broken file goes to ``skip`` (which raises for the bundled files)."""
    compose = role != "action"
    seen: dict[str, str] = {}
    for entry in _entries(folder, label, problems):
        source = f"{label}/{entry.name}"
        try:
            template = parse_template(_read(entry, source), source, _stem(entry.name))
            if template.name in seen:
                raise TemplateError(
                    f"{source}: the name '{template.name}' is already used by "
                    f"{seen[template.name]}."
                )
            if compose and template.edits_text:
                raise TemplateError(
                    f"{source}: a compose template writes new text ('result: new')."
                )
            if not compose and template.compose is not None:
                raise TemplateError(
                    f"{source}: 'compose' belongs to templates in the compose folder, not here."
                )
            if role == "compose" and "length" not in template.variables:
                raise TemplateError(
                    f"{source}: a compose template needs a 'length' variable (the words wanted)."
                )
        except TemplateError as exc:
            skip(exc)
            continue
        seen[template.name] = source
        templates[template.name] = template


def _load_folder(
    folder: Traversable | Path,
    label: str,
    library: PromptLibrary,
    problems: list[str] | None = None,
) -> None:
    """Add the folder's templates, compose kinds and stages, and personas.
    With ``problems`` (the user's folder), a broken file is skipped and its
    sentence noted there; without (the bundled files), it is raised: a broken
    bundled file is a bug."""

    def skip(error: TemplateError) -> None:
        if problems is None:
            raise error
        problems.append(f"{str(error).rstrip('.')}; that file is skipped.")

    _load_templates(folder, label, library.templates, "action", skip, problems)
    compose_dir = folder / "compose"
    _load_templates(compose_dir, f"{label}/compose", library.compose, "compose", skip, problems)
    _load_templates(
        compose_dir / "stages",
        f"{label}/compose/stages",
        library.compose_stages,
        "stage",
        skip,
        problems,
    )
    for entry in _entries(folder / "personas", f"{label}/personas", problems):
        source = f"{label}/personas/{entry.name}"
        try:
            persona = parse_persona(_read(entry, source), source, _stem(entry.name))
        except TemplateError as exc:
            skip(exc)
            continue
        library.personas[persona.name] = persona


def load_library(user_dir: Path | None = None) -> PromptLibrary:
    """Bundled templates, compose kinds and personas, then the user's folder
    on top (same name replaces). ``user_dir`` defaults to
    ``app_paths().user_prompts``. A broken user file never stops the rest
    from loading: it is left out and named in ``PromptLibrary.problems`` (a
    bundled one of the same name stays)."""
    if user_dir is None:
        from assistant.paths import app_paths

        user_dir = app_paths().user_prompts
    library = PromptLibrary(templates={}, personas={})
    _load_folder(bundled_root(), "bundled prompts", library)
    bundled = {
        "templates": dict(library.templates),
        "compose": dict(library.compose),
        "compose_stages": dict(library.compose_stages),
    }
    user_dir = Path(user_dir)
    if user_dir.is_dir():
        _load_folder(user_dir, str(user_dir), library, library.problems)
    personas = library.personas
    for group, before in bundled.items():
        templates: dict[str, PromptTemplate] = getattr(library, group)
        for name, template in list(templates.items()):
            if not template.persona or template.persona in personas:
                continue
            error = TemplateError(
                f"{template.source}: 'persona' names '{template.persona}', which does not exist."
            )
            if template is before.get(name):
                raise error
            library.problems.append(f"{str(error).rstrip('.')}; that file is skipped.")
            if name in before and before[name].persona in (None, *personas):
                templates[name] = before[name]
            else:
                del templates[name]
    return library


def parse_assignments(pairs: Sequence[str]) -> dict[str, str]:
    """``["k=v", ...]`` from ``--var`` into a dict; a pair without '=' is an error."""
    values: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise WritingError(f"'{pair}' is not a NAME=VALUE pair.")
        values[key] = value
    return values
