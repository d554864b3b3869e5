"""Prompt templates and personas as data files, validated on load.

A template is a Markdown file with YAML front matter (the body is the prompt) or
a YAML file with a ``template`` key. Bundled files ship inside the package as
``assistant.bundled_prompts``; files in the user's prompt folder
(``app_paths().user_prompts``) add templates or replace bundled ones *by name*.
Placeholders are ``{{ name }}`` and nothing else: no code runs inside a
template, so a user file can never do more than produce text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from assistant.domain import ChatTurn, Role
from assistant.writing.errors import TemplateError, WritingError

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
TEMPLATE_SUFFIXES = (".md", ".yaml", ".yml")

# How a template copes with text longer than one context window.
LONG_TEXT_STRATEGIES = ("chunks", "map_reduce", "tail")

TEMPLATE_KEYS = frozenset(
    {
        "name",
        "description",
        "system",
        "persona",
        "template",
        "variables",
        "argument",
        "aliases",
        "long_text",
        "temperature",
        "max_tokens",
        "output_ratio",
        "stop",
        "examples",
    }
)
VARIABLE_KEYS = frozenset({"default", "description", "values", "suggestions"})
EXAMPLE_KEYS = frozenset({"text", "output", "variables"})
PERSONA_KEYS = frozenset({"name", "description", "system"})


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

    @property
    def edits_text(self) -> bool:
        """True when the result replaces the input (proofread, rewrite...): such
        results can be shown as a diff and written back to the file."""
        return self.long_text == "chunks"

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

    def names(self) -> list[str]:
        """Template names and aliases, for completion."""
        out = list(self.templates)
        for template in self.templates.values():
            out.extend(template.aliases)
        return sorted(set(out))


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


def _text_field(data: Mapping[str, Any], key: str, source: str, required: bool = False) -> str:
    value = data.get(key)
    if value is None:
        if required:
            raise TemplateError(f"{source}: the '{key}' key is missing.")
        return ""
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise TemplateError(f"{source}: '{key}' must be text.")
    return str(value)


def _check_keys(data: Mapping[str, Any], allowed: Iterable[str], source: str, what: str) -> None:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise TemplateError(
            f"{source}: unknown key '{unknown[0]}' in {what} "
            f"(allowed: {', '.join(sorted(allowed))})."
        )


def _string_map(value: Any, source: str, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TemplateError(f"{source}: {where} must be key: value pairs.")
    return {str(k).strip().lower(): str(v) for k, v in value.items()}


def _parse_variables(value: Any, source: str) -> dict[str, Variable]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TemplateError(f"{source}: 'variables' must map each variable name to its settings.")
    variables: dict[str, Variable] = {}
    for raw_name, spec in value.items():
        name = str(raw_name)
        if not PLACEHOLDER.fullmatch("{{" + name + "}}") or name == "text":
            raise TemplateError(f"{source}: '{name}' is not a valid variable name.")
        if spec is None or isinstance(spec, str | int | float):
            default = None if spec is None else str(spec)
            variables[name] = Variable(name=name, default=default)
            continue
        if not isinstance(spec, dict):
            raise TemplateError(
                f"{source}: variable '{name}' must be a default value or a mapping."
            )
        _check_keys(spec, VARIABLE_KEYS, source, f"variable '{name}'")
        suggestions = spec.get("suggestions") or []
        if not isinstance(suggestions, list):
            raise TemplateError(f"{source}: 'suggestions' of '{name}' must be a list.")
        default = spec.get("default")
        variables[name] = Variable(
            name=name,
            default=None if default is None else str(default),
            description=str(spec.get("description") or ""),
            values=_string_map(spec.get("values"), source, f"'values' of '{name}'"),
            suggestions=tuple(str(s) for s in suggestions),
        )
    return variables


def _number(data: Mapping[str, Any], key: str, source: str, kind: type, low: float, high: float):
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TemplateError(f"{source}: '{key}' must be a number.")
    if kind is int and not isinstance(value, int):
        raise TemplateError(f"{source}: '{key}' must be a whole number.")
    if not low <= value <= high:
        raise TemplateError(f"{source}: '{key}' must be between {low} and {high}.")
    return kind(value)


def parse_template(raw: str, source: str, fallback_name: str) -> PromptTemplate:
    """Validate one template file's text; every problem names ``source``."""
    if source.endswith(".md"):
        data, body = _split_front_matter(raw, source)
        if "template" in data:
            raise TemplateError(
                f"{source}: a Markdown template keeps its prompt in the body, not in 'template'."
            )
    else:
        data = _yaml_mapping(raw, source)
        body = _text_field(data, "template", source, required=True)
    _check_keys(data, TEMPLATE_KEYS, source, "the template")
    name = _text_field(data, "name", source) or fallback_name
    name = name.strip().lower()
    if not NAME.match(name):
        raise TemplateError(
            f"{source}: '{name}' is not a valid name (lower-case letters, digits, - and _)."
        )
    if not body.strip():
        raise TemplateError(f"{source}: the template text is empty.")
    variables = _parse_variables(data.get("variables"), source)
    system = _text_field(data, "system", source) or None
    used = {m.group(1) for m in PLACEHOLDER.finditer(body)}
    if system:
        used |= {m.group(1) for m in PLACEHOLDER.finditer(system)}
        if "text" in {m.group(1) for m in PLACEHOLDER.finditer(system)}:
            raise TemplateError(
                f"{source}: '{{{{ text }}}}' belongs in the template, not 'system'."
            )
    if "text" not in used:
        raise TemplateError(f"{source}: the template never uses '{{{{ text }}}}'.")
    missing = sorted(used - set(variables) - {"text"})
    if missing:
        raise TemplateError(
            f"{source}: the template uses '{{{{ {missing[0]} }}}}' but declares no variable "
            f"'{missing[0]}' under 'variables'."
        )
    argument = _text_field(data, "argument", source) or None
    if argument is not None and argument not in variables:
        raise TemplateError(f"{source}: 'argument' names '{argument}', which is not a variable.")
    long_text = _text_field(data, "long_text", source) or "chunks"
    if long_text not in LONG_TEXT_STRATEGIES:
        raise TemplateError(
            f"{source}: 'long_text' must be one of {', '.join(LONG_TEXT_STRATEGIES)}."
        )
    aliases = data.get("aliases") or []
    stop = data.get("stop") or []
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise TemplateError(f"{source}: 'aliases' must be a list of names.")
    if not isinstance(stop, list) or not all(isinstance(s, str) and s for s in stop):
        raise TemplateError(f"{source}: 'stop' must be a list of non-empty strings.")
    examples_raw = data.get("examples") or []
    if not isinstance(examples_raw, list):
        raise TemplateError(f"{source}: 'examples' must be a list.")
    examples = []
    for i, item in enumerate(examples_raw, 1):
        if not isinstance(item, dict):
            raise TemplateError(f"{source}: example {i} must have 'text' and 'output'.")
        _check_keys(item, EXAMPLE_KEYS, source, f"example {i}")
        ex_vars = _string_map(item.get("variables"), source, f"'variables' of example {i}")
        bad = sorted(set(ex_vars) - set(variables))
        if bad:
            raise TemplateError(f"{source}: example {i} sets unknown variable '{bad[0]}'.")
        examples.append(
            Example(
                text=_text_field(item, "text", source, required=True),
                output=_text_field(item, "output", source, required=True),
                variables=ex_vars,
            )
        )
    persona = _text_field(data, "persona", source) or None
    ratio = _number(data, "output_ratio", source, float, 0.05, 8.0)
    return PromptTemplate(
        name=name,
        description=_text_field(data, "description", source).strip() or name,
        body=body.strip() + "\n",
        source=source,
        system=system,
        persona=persona.strip().lower() if persona else None,
        variables=variables,
        argument=argument,
        aliases=tuple(a.strip().lower() for a in aliases),
        long_text=long_text,
        temperature=_number(data, "temperature", source, float, 0.0, 5.0),
        max_tokens=_number(data, "max_tokens", source, int, 1, 1_000_000),
        output_ratio=ratio if ratio is not None else 1.3,
        stop=tuple(stop),
        examples=tuple(examples),
    )


def parse_persona(raw: str, source: str, fallback_name: str) -> Persona:
    if source.endswith(".md"):
        data, body = _split_front_matter(raw, source)
        if "system" in data:
            raise TemplateError(f"{source}: a Markdown persona keeps its prompt in the body.")
    else:
        data = _yaml_mapping(raw, source)
        body = _text_field(data, "system", source, required=True)
    _check_keys(data, PERSONA_KEYS, source, "the persona")
    name = (_text_field(data, "name", source) or fallback_name).strip().lower()
    if not NAME.match(name):
        raise TemplateError(f"{source}: '{name}' is not a valid persona name.")
    if not body.strip():
        raise TemplateError(f"{source}: the persona's system prompt is empty.")
    return Persona(
        name=name,
        description=_text_field(data, "description", source).strip() or name,
        system=body.strip(),
        source=source,
    )


# ----------------------------------------------------------------- loading
def bundled_root() -> Traversable:
    return files("assistant.bundled_prompts")


def _entries(folder: Traversable | Path) -> list[Traversable | Path]:
    try:
        if not folder.is_dir():
            return []
        items = list(folder.iterdir())
    except OSError:
        return []
    return sorted(
        (i for i in items if i.name.endswith(TEMPLATE_SUFFIXES) and not i.name.startswith(".")),
        key=lambda i: i.name,
    )


def _stem(name: str) -> str:
    return name.rsplit(".", 1)[0].lower()


def _load_folder(
    folder: Traversable | Path, label: str, templates: dict[str, PromptTemplate], personas: dict
) -> None:
    seen: dict[str, str] = {}
    for entry in _entries(folder):
        source = f"{label}/{entry.name}"
        template = parse_template(_read(entry, source), source, _stem(entry.name))
        if template.name in seen:
            raise TemplateError(
                f"{source}: the name '{template.name}' is already used by {seen[template.name]}."
            )
        seen[template.name] = source
        templates[template.name] = template
    persona_dir = folder / "personas"
    for entry in _entries(persona_dir):
        source = f"{label}/personas/{entry.name}"
        persona = parse_persona(_read(entry, source), source, _stem(entry.name))
        personas[persona.name] = persona


def load_library(user_dir: Path | None = None) -> PromptLibrary:
    """Bundled templates and personas, then the user's folder on top (same name
    replaces). ``user_dir`` defaults to ``app_paths().user_prompts``."""
    if user_dir is None:
        from assistant.paths import app_paths

        user_dir = app_paths().user_prompts
    templates: dict[str, PromptTemplate] = {}
    personas: dict[str, Persona] = {}
    _load_folder(bundled_root(), "bundled prompts", templates, personas)
    user_dir = Path(user_dir)
    if user_dir.is_dir():
        _load_folder(user_dir, str(user_dir), templates, personas)
    library = PromptLibrary(templates=templates, personas=personas)
    for template in templates.values():
        if template.persona and template.persona not in personas:
            raise TemplateError(
                f"{template.source}: 'persona' names '{template.persona}', which does not exist."
            )
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
