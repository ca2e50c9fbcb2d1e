"""The step vocabulary: every step is defined once, with an English and a Korean phrasing.

A step module writes::

    VERB = Param("verb", "what to do", choices={"stop": "중지", "start": "시작"})

    @then("I {verb} the VM", ko="가상머신을 {verb}합니다", params=[VERB])
    def do_verb(vmconform_scenario, verb): ...

and the implementation is bound to both phrasings (two pytest-bdd step definitions, one
function).  A Korean argument is translated to the English value before the function sees it,
so implementations never branch on the language.  The registry behind the decorators is what
``vmconform steps`` prints and what the unknown-step suggestions are drawn from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence, TypeVar

from pytest_bdd import given as bdd_given
from pytest_bdd import parsers
from pytest_bdd import then as bdd_then
from pytest_bdd import when as bdd_when

F = TypeVar("F", bound=Callable[..., Any])

LANGUAGES = ("en", "ko")
# the keyword an example line starts with, per step type and language (Gherkin's own keywords)
KEYWORDS = {
    "en": {"given": "Given", "when": "When", "then": "Then"},
    "ko": {"given": "조건", "when": "만일", "then": "그러면"},
}
_BDD = {"given": bdd_given, "when": bdd_when, "then": bdd_then}
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Param:
    """A parameter of a step phrasing.

    ``choices`` maps each English value to its Korean word (the same string when the value is
    not translated, like a VM status); without choices, ``pattern`` is the regular expression a
    value matches and ``convert`` turns it into the value the implementation receives.
    """

    name: str
    meaning: str
    choices: Mapping[str, str] | None = None
    pattern: str = r".+?"
    convert: Callable[[str], Any] | None = None
    example: str | None = None

    def regex(self, lang: str) -> str:
        if self.choices is None:
            return self.pattern
        words = self.choices.values() if lang == "ko" else self.choices.keys()
        return "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True))

    def converter(self, lang: str) -> Callable[[str], Any] | None:
        if self.choices is not None:
            if lang == "en":
                return None
            back = {ko: en for en, ko in self.choices.items()}
            return back.__getitem__
        return self.convert

    def example_value(self, lang: str, override: str | None = None) -> str:
        if self.choices is not None:
            en = override or self.example or next(iter(self.choices))
            return self.choices[en] if lang == "ko" else en
        return override or self.example or "…"

    def describe(self) -> str:
        if self.choices is None:
            return f"{{{self.name}}}: {self.meaning}"
        pairs = [en if en == ko else f"{en} / {ko}" for en, ko in self.choices.items()]
        return f"{{{self.name}}}: {self.meaning} — {', '.join(pairs)}"


@dataclass
class StepDef:
    kind: str  # given, when, then
    phrasings: dict[str, str]  # language → template with {param} placeholders
    params: tuple[Param, ...]
    function: str
    module: str
    example_values: Mapping[str, str] = field(default_factory=dict)  # English values for the example line
    regexes: dict[str, re.Pattern[str]] = field(default_factory=dict)

    def example(self, lang: str) -> str:
        values = {p.name: p.example_value(lang, self.example_values.get(p.name)) for p in self.params}
        return f"{KEYWORDS[lang][self.kind]} {_PLACEHOLDER.sub(lambda m: values[m.group(1)], self.phrasings[lang])}"

    def variants(self, lang: str, limit: int = 64) -> list[str]:
        """The phrasing with every combination of choice values filled in (others: their example)."""
        lines = [self.phrasings[lang]]
        for p in self.params:
            values = ([p.choices[v] if lang == "ko" else v for v in p.choices] if p.choices is not None
                      else [p.example_value(lang)])
            lines = [line.replace("{" + p.name + "}", v, 1) for line in lines for v in values][:limit]
        return lines

    def keyword(self, lang: str) -> str:
        return KEYWORDS[lang][self.kind]

    def matches(self, text: str) -> bool:
        return any(r.fullmatch(text) for r in self.regexes.values())


REGISTRY: list[StepDef] = []


def _compile(template: str, params: Mapping[str, Param], lang: str) -> str:
    out, pos = [], 0
    for m in _PLACEHOLDER.finditer(template):
        name = m.group(1)
        if name not in params:
            raise ValueError(f"step {template!r}: no Param for {{{name}}}")
        out.append(re.escape(template[pos:m.start()]))
        out.append(f"(?P<{name}>{params[name].regex(lang)})")
        pos = m.end()
    out.append(re.escape(template[pos:]))
    return "".join(out)


def _define(kind: str, en: str, ko: str, params: Sequence[Param], target_fixture: str | None,
            example: Mapping[str, str] | None) -> Callable[[F], F]:
    by_name = {p.name: p for p in params}
    for lang, text in (("en", en), ("ko", ko)):
        used = set(_PLACEHOLDER.findall(text))
        if used != set(by_name):
            raise ValueError(f"step {text!r} ({lang}) uses {sorted(used)}, its params are {sorted(by_name)}")

    def decorator(fn: F) -> F:
        entry = StepDef(kind=kind, phrasings={"en": en, "ko": ko}, params=tuple(params), function=fn.__name__,
                        module=fn.__module__, example_values=dict(example or {}))
        for lang, text in entry.phrasings.items():
            regex = _compile(text, by_name, lang)
            entry.regexes[lang] = re.compile(regex)
            converters = {p.name: c for p in params if (c := p.converter(lang)) is not None}
            # stacklevel 2: the step definition fixture lands in the module that used this decorator
            _BDD[kind](parsers.re(regex), converters=converters, target_fixture=target_fixture, stacklevel=2)(fn)
        REGISTRY.append(entry)
        return fn

    return decorator


def given(en: str, *, ko: str, params: Sequence[Param] = (), target_fixture: str | None = None,
         example: Mapping[str, str] | None = None) -> Callable[[F], F]:
    return _define("given", en, ko, params, target_fixture, example)


def when(en: str, *, ko: str, params: Sequence[Param] = (), target_fixture: str | None = None,
         example: Mapping[str, str] | None = None) -> Callable[[F], F]:
    return _define("when", en, ko, params, target_fixture, example)


def then(en: str, *, ko: str, params: Sequence[Param] = (), target_fixture: str | None = None,
         example: Mapping[str, str] | None = None) -> Callable[[F], F]:
    return _define("then", en, ko, params, target_fixture, example)


def find(kind: str, text: str) -> StepDef | None:
    return next((d for d in REGISTRY if d.kind == kind and d.matches(text)), None)
