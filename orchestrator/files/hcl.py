"""A small, strict reader and writer for the HCL subset used in .tfvars files.

Why ecrctl has its own reader, measured on this machine on a 1000-entry tfvars (CPU seconds):
- positions: ecrctl edits one entry of `ecr_repositories` and leaves every other byte of the
  file as it was, so it needs the byte offsets of every object item; python-hcl2 reports none;
- strictness: python-hcl2 7.x accepts and rejects several inputs differently from Terraform
  (templates, duplicate keys); this reader refuses what it does not understand, and the tests
  hold it to Terraform itself (`terraform console`), the real oracle;
- speed: this reader parses the file in 0.09 s, python-hcl2 in 2.9 s (under load; 0.36 s on a
  quiet machine). files/tfvars.py adds a line reader for files exactly as ecrctl writes them
  (0.01 s): without the two line readers `ecrctl create` at N=1000 costs 2.1 s of CPU instead
  of 0.7 s (docs/BENCHMARKS.md keeps the goal, 0.3 s wall on a quiet machine).
python-hcl2 stays as the independent second opinion `ecrctl validate` asks.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from typing import Any, NamedTuple

_TOKEN = re.compile(
    r"""
    (?P<ws>[ \t\r]+)
  | (?P<newline>\n)
  | (?P<comment>(?:\#|//)[^\n]*)
  | (?P<block_comment>/\*.*?\*/)
  | (?P<heredoc><<-?)
  | (?P<number>-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_-]*)
  | (?P<string>")
  | (?P<punct>[{}\[\]=:,])
    """,
    re.VERBOSE | re.DOTALL,
)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}
# What `next` would skip one token at a time (blanks and line comments), skipped in one match.
_SKIP = re.compile(r"(?:[ \t\r]+|(?:\#|//)[^\n]*)+")
# A string of printable ASCII with no `"`, `\`, `${` or `%{`: quoted as it is.
_PLAIN_QUOTED = re.compile(r"(?:[ !#&-\[\]-~]|[$%](?!\{))*")
# A run of string characters that need no escape or template handling.
_PLAIN_RUN = re.compile(r'[^"\\\n$%]+')


class HclSyntaxError(ValueError):
    def __init__(self, message: str, line: int) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.reason = message


class Token(NamedTuple):
    # A tuple, not a frozen dataclass: a 1000-entry tfvars has some 30,000 tokens.
    kind: str
    value: Any
    start: int
    end: int


@dataclass
class ObjectSpans:
    """Where an object literal and each of its items sit in the text."""

    open: int
    close: int
    items: dict[str, tuple[int, int]] = field(default_factory=dict)  # key -> (start, end) offsets
    lines: dict[str, int] = field(default_factory=dict)  # key -> line number


@dataclass
class Document:
    text: str
    values: dict[str, Any]
    spans: dict[str, ObjectSpans]  # top-level attribute name -> spans of its object value
    attr_lines: dict[str, int]
    # top-level attribute name -> (start, end) offsets of its whole line(s), newline included
    attr_spans: dict[str, tuple[int, int]] = field(default_factory=dict)

    def line_of(self, offset: int) -> int:
        return _line_of(self.text, offset)


def extended(
    head: Document, text: str, name: str, value: Any, spans: ObjectSpans, start: int
) -> Document:
    """The document of `text`: `head` (the parse of what precedes offset `start`) plus the
    object attribute `name` = `value` from `start` to the end, its items at `spans`, read by a
    faster reader than this one."""
    return Document(
        text,
        {**head.values, name: value},
        {**head.spans, name: spans},
        {**head.attr_lines, name: text.count("\n", 0, start) + 1},
        {**head.attr_spans, name: (start, len(text))},
    )


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


class _Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self._line_starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def line(self, offset: int) -> int:
        return bisect.bisect_right(self._line_starts, offset)

    def error(self, message: str, offset: int) -> HclSyntaxError:
        return HclSyntaxError(message, self.line(offset))

    def next(self) -> Token:
        text = self.text
        while True:
            skipped = _SKIP.match(text, self.pos)
            if skipped:
                self.pos = skipped.end()
            if self.pos >= len(text):
                return Token("eof", None, self.pos, self.pos)
            match = _TOKEN.match(text, self.pos)
            if match is None:
                raise self.error(f"unexpected character {text[self.pos]!r}", self.pos)
            kind = match.lastgroup or ""
            start, self.pos = match.start(), match.end()
            if kind in ("ws", "comment"):
                continue
            if kind == "block_comment":
                if "\n" in match.group():
                    return Token("newline", None, start, self.pos)
                continue
            if kind == "heredoc":
                raise self.error("heredoc strings are not supported in managed tfvars", start)
            if kind == "string":
                return self._string(start)
            if kind == "number":
                raw = match.group()
                value: Any = float(raw) if any(c in raw for c in ".eE") else int(raw)
                return Token("number", value, start, self.pos)
            if kind == "punct":
                return Token(match.group(), None, start, self.pos)
            return Token(kind, match.group(), start, self.pos)

    def _string(self, start: int) -> Token:
        text, i = self.text, self.pos
        out: list[str] = []
        while True:
            if i >= len(text) or text[i] == "\n":
                raise self.error("unterminated string", start)
            plain = _PLAIN_RUN.match(text, i)
            if plain:
                out.append(plain.group())
                i = plain.end()
                continue
            char = text[i]
            if char == '"':
                self.pos = i + 1
                return Token("string", "".join(out), start, self.pos)
            if char == "\\":
                code = text[i + 1 : i + 2]
                if code in _ESCAPES:
                    out.append(_ESCAPES[code])
                    i += 2
                elif code in ("u", "U"):
                    width = 4 if code == "u" else 8
                    digits = text[i + 2 : i + 2 + width]
                    if not re.fullmatch(rf"[0-9A-Fa-f]{{{width}}}", digits):
                        raise self.error(f"bad \\{code} escape in string", i)
                    out.append(chr(int(digits, 16)))
                    i += 2 + width
                else:
                    raise self.error(f"unknown escape \\{code} in string", i)
            elif text.startswith(("$${", "%%{"), i):
                out.append(text[i + 1 : i + 3])
                i += 3
            elif text.startswith(("${", "%{"), i):
                raise self.error("template sequences (${ or %{) are not allowed in tfvars", i)
            else:
                out.append(char)
                i += 1


MAX_DEPTH = 32  # lists and objects inside each other; ecrctl writes 3 levels


class _Parser:
    def __init__(self, text: str) -> None:
        self.lexer = _Lexer(text)
        self.token = self.lexer.next()
        self.depth = 0

    def enter(self) -> None:
        """Bound the nesting: the parser recurses, and a hostile file must not exhaust the stack."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.lexer.error(f"nested more than {MAX_DEPTH} levels deep", self.token.start)

    def advance(self) -> Token:
        token, self.token = self.token, self.lexer.next()
        return token

    def skip_newlines(self) -> None:
        while self.token.kind == "newline":
            self.advance()

    def expect(self, kind: str, what: str) -> Token:
        if self.token.kind != kind:
            raise self.lexer.error(f"expected {what}", self.token.start)
        return self.advance()

    def document(self) -> Document:
        values: dict[str, Any] = {}
        spans: dict[str, ObjectSpans] = {}
        lines: dict[str, int] = {}
        attr_spans: dict[str, tuple[int, int]] = {}
        self.skip_newlines()
        while self.token.kind != "eof":
            start = self.token.start
            name = self.expect("ident", "a variable name").value
            line = self.lexer.line(self.token.start)
            if name in values:
                raise self.lexer.error(f"variable {name!r} is set twice", self.token.start)
            self.expect("=", f"'=' after {name}")
            if self.token.kind == "{":
                values[name], spans[name] = self.object()
            else:
                values[name] = self.value()
            lines[name] = line
            if self.token.kind not in ("newline", "eof"):
                raise self.lexer.error("expected a new line after the value", self.token.start)
            attr_spans[name] = (start, self.token.end)
            self.skip_newlines()
        return Document(self.lexer.text, values, spans, lines, attr_spans)

    def value(self) -> Any:
        token = self.token
        if token.kind in ("string", "number"):
            self.advance()
            return token.value
        if token.kind == "ident" and token.value in ("true", "false", "null"):
            self.advance()
            return {"true": True, "false": False, "null": None}[token.value]
        if token.kind == "[":
            return self.list()
        if token.kind == "{":
            return self.object()[0]
        raise self.lexer.error(
            "expected a value (string, number, bool, list or object)", token.start
        )

    def list(self) -> list[Any]:
        self.enter()
        self.advance()
        items: list[Any] = []
        self.skip_newlines()
        while self.token.kind != "]":
            items.append(self.value())
            self.skip_newlines()
            if self.token.kind == ",":
                self.advance()
                self.skip_newlines()
            elif self.token.kind != "]":
                raise self.lexer.error("expected ',' or ']' in list", self.token.start)
        self.advance()
        self.depth -= 1
        return items

    def object(self) -> tuple[dict[str, Any], ObjectSpans]:
        self.enter()
        text = self.lexer.text
        spans = ObjectSpans(open=self.advance().start, close=-1)
        items: dict[str, Any] = {}
        self.skip_newlines()
        while self.token.kind != "}":
            key_token = self.token
            if key_token.kind not in ("ident", "string"):
                raise self.lexer.error("expected an object key", key_token.start)
            key = key_token.value
            if key in items:
                raise self.lexer.error(f"key {key!r} appears twice", key_token.start)
            self.advance()
            if self.token.kind not in ("=", ":"):
                raise self.lexer.error(f"expected '=' after key {key!r}", self.token.start)
            self.advance()
            items[key] = self.value()
            line_start = text.rfind("\n", 0, key_token.start) + 1
            start = (
                line_start if not text[line_start : key_token.start].strip() else key_token.start
            )
            end = self.lexer.pos if self.token.kind == "newline" else self.token.start
            spans.items[key] = (start, end)
            spans.lines[key] = self.lexer.line(key_token.start)
            if self.token.kind == ",":
                self.advance()
            elif self.token.kind not in ("newline", "}"):
                raise self.lexer.error(
                    "expected a new line, ',' or '}' in object", self.token.start
                )
            self.skip_newlines()
        spans.close = self.advance().start
        self.depth -= 1
        return items, spans


def parse(text: str) -> Document:
    """Parse tfvars text; HclSyntaxError carries the line of the first problem."""
    return _Parser(text).document()


def unquote(token: str) -> str | None:
    """The value of one string literal such as `quote` writes; None if `token` is not one."""
    if not (len(token) >= 2 and token[0] == token[-1] == '"'):
        return None
    body = token[1:-1]
    if _PLAIN_QUOTED.fullmatch(body):
        return body
    lexer = _Lexer(token)
    lexer.pos = 1
    try:
        value = lexer._string(0)
    except HclSyntaxError:
        return None
    return str(value.value) if lexer.pos == len(token) else None


def quote(value: str) -> str:
    """An HCL string literal that Terraform reads back as exactly `value`."""
    return f'"{value}"' if _PLAIN_QUOTED.fullmatch(value) else _escape(value)


def _escape(value: str) -> str:
    """`quote`, one character at a time."""
    out = []
    for char in value:
        if char == "\\":
            out.append("\\\\")
        elif char == '"':
            out.append('\\"')
        elif char == "\n":
            out.append("\\n")
        elif char == "\r":
            out.append("\\r")
        elif char == "\t":
            out.append("\\t")
        elif ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0 or char in "\u2028\u2029":
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    # Template sequences are escaped after the rest so that `$${` in the input survives too.
    return '"' + "".join(out).replace("${", "$${").replace("%{", "%%{") + '"'


def render_list(values: list[str] | tuple[str, ...]) -> str:
    return "[" + ", ".join(quote(v) for v in values) + "]"
