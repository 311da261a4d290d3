"""Control characters in what people and senders type: refused with a word, never stored.

A trailing NUL, an escape sequence or a C1 control in a time, an MRN or a note is never what a nurse
or a laboratory meant, and may hide text from a reader of the record or the audit trail. Line
breaks and tabs are allowed only in free-text notes that are several lines long (a textarea).
"""

from __future__ import annotations

import dataclasses
import unicodedata

from django import forms

MULTILINE_ALLOWED = frozenset("\t\n\r")


def control_character(text: str, *, multiline: bool = False) -> str | None:
    """Return the first control character of `text` (Unicode category Cc), or None.

    With `multiline`, tabs and line breaks are allowed.
    """
    for char in text:
        if unicodedata.category(char) == "Cc" and not (multiline and char in MULTILINE_ALLOWED):
            return char
    return None


def describe(char: str) -> str:
    """Return a control character as a reader can name it: 'NUL (U+0000)'."""
    names = {"\x00": "NUL", "\t": "tab", "\n": "line break", "\r": "carriage return", "\x1b": "escape"}
    return f"{names.get(char, 'control character')} (U+{ord(char):04X})"


def refusal(char: str) -> str:
    return f"Contains an invisible {describe(char)}: retype the value without it."


class RefuseControlCharacters:
    """Form mixin: refuse a field whose submitted text holds a control character, before any parsing.

    Checked on the raw submitted value, so a field whose parser would silently drop or ignore the
    character (a date-time with a trailing NUL) is refused too. Files are not text fields here.
    """

    def _clean_fields(self) -> None:
        super()._clean_fields()
        for name, bound in self._bound_items():
            if isinstance(bound.field, forms.FileField):
                continue
            raw = bound.data
            multiline = isinstance(bound.field.widget, forms.Textarea)
            for value in raw if isinstance(raw, list | tuple) else [raw]:
                char = control_character(value, multiline=multiline) if isinstance(value, str) else None
                if char is not None:  # this word replaces the parser's ("Enter a number"), which misleads
                    self._errors[name] = self.error_class([refusal(char)], renderer=self.renderer)
                    self.cleaned_data.pop(name, None)
                    break


def record_control_character(record) -> tuple[str, str] | None:
    """Return (field, reason) for the first text field of an import record with a control character."""
    for name, value in _texts(record):
        char = control_character(value)
        if char is not None:
            return name, f"contains an invisible {describe(char)}"
    return None


def _texts(record, prefix: str = ""):
    """Yield (field name, text) for every text field of a record, its measured values included."""
    for field in dataclasses.fields(record):
        value = getattr(record, field.name)
        if isinstance(value, str):
            yield prefix + field.name, value
        elif isinstance(value, dict):
            for key, item in value.items():
                if dataclasses.is_dataclass(item):
                    yield from _texts(item, f"{key} ")
