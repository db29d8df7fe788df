"""Request bodies: read within the size limit, parsed, and each field checked for its
type, with errors a client can act on. Ranges are the library's to check (its messages
are the CLI's)."""

from __future__ import annotations

import json
from typing import Any

from rnntool.errors import InputError


class RequestError(Exception):
    """An HTTP error with a JSON body: ``{"error": {"message", "type", "code"}}``."""

    def __init__(self, status: int, message: str, type: str = "invalid_request_error",
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.headers = headers or {}


def error_body(status: int, message: str, type: str) -> dict:
    """OpenAI's error shape, so its clients raise with our message."""
    return {"error": {"message": message, "type": type, "code": status}}


async def read_json(request, max_body: int) -> dict:
    """The request's JSON object, read no further than ``max_body`` bytes (413 past them)."""
    too_large = RequestError(413, f"the request body is larger than the server's limit of {max_body:,} bytes: "
                                  "send fewer texts per request (or start the server with a higher --max-body)",
                             "request_too_large")
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > max_body:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_body:
            raise too_large
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        raise InputError("the request has no body: send a JSON object, e.g. {\"text\": \"...\"}")
    try:
        body = json.loads(raw)
    except UnicodeDecodeError:
        raise InputError("the request body is not UTF-8: send JSON in UTF-8") from None
    except ValueError as error:
        raise InputError(f"the request body is not valid JSON ({error})") from None
    if not isinstance(body, dict):
        raise InputError(f"the request body must be a JSON object, not {_json_type(body)}")
    return body


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


class Body:
    """A request's fields, taken one by one; fields nobody took are an error (a typo
    must not silently fall back to a default)."""

    def __init__(self, data: dict, endpoint: str, ignored: tuple[str, ...] = ()):
        self.data = data
        self.endpoint = endpoint
        self.taken: set[str] = set(ignored)

    def _get(self, name: str) -> Any:
        self.taken.add(name)
        return self.data.get(name)

    def has(self, name: str) -> bool:
        return self.data.get(name) is not None

    def _wrong(self, name: str, wanted: str, value: Any) -> InputError:
        return InputError(f"{name!r} must be {wanted}, not {_json_type(value)}")

    def _scalar(self, name: str, default: Any, wanted: str, convert) -> Any:
        """The field ``name`` through ``convert`` (None: not of the wanted type), or ``default``."""
        value = self._get(name)
        if value is None:
            return default
        converted = convert(value)
        if converted is None:
            raise self._wrong(name, wanted, value)
        return converted

    def string(self, name: str, default: str | None = None) -> str | None:
        return self._scalar(name, default, "a string", lambda v: v if isinstance(v, str) else None)

    def integer(self, name: str, default: int | None = None) -> int | None:
        return self._scalar(name, default, "an integer", _as_int)

    def number(self, name: str, default: float | None = None) -> float | None:
        return self._scalar(name, default, "a number",
                            lambda v: float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None)

    def boolean(self, name: str, default: bool) -> bool:
        return self._scalar(name, default, "true or false", lambda v: v if isinstance(v, bool) else None)

    def strings(self, name: str) -> list[str]:
        """A string or an array of strings (``stop``)."""
        value = self._get(name)
        if value is None:
            return []
        if isinstance(value, str):
            return [value]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
        raise self._wrong(name, "a string or an array of strings", value)

    def texts(self, tokens_allowed: bool = False, singular: str = "text") -> tuple[list, bool]:
        """(the inputs, whether one was sent as ``text`` rather than a list as ``texts``).
        A tagger's input may also be a list of tokens."""
        plural = singular + "s"
        one, many = self._get(singular), self._get(plural)
        if (one is None) == (many is None):
            both = "not both" if one is not None else "in a JSON object"
            raise InputError(f'send "{singular}" (one) or "{plural}" (a list), {both}')
        items = [one] if one is not None else many
        if many is not None and not isinstance(many, list):
            raise self._wrong(plural, "an array", many)
        what = "a string or an array of token strings" if tokens_allowed else "a string"
        for i, item in enumerate(items):
            ok = isinstance(item, str) or (tokens_allowed and isinstance(item, list)
                                           and all(isinstance(t, str) for t in item))
            if not ok:
                where = singular if one is not None else f"{plural}[{i}]"
                raise self._wrong(where, what, item)
        return items, one is not None

    def prompts(self) -> list[str]:
        """OpenAI's ``prompt``: a string or an array of strings (none: one empty prompt)."""
        value = self._get("prompt")
        if value is None:
            return [""]
        if isinstance(value, str):
            return [value]
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            return value
        raise self._wrong("prompt", "a string or a non-empty array of strings", value)

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.taken)
        if unknown:
            takes = ", ".join(sorted(self.taken))
            raise InputError(f"{self.endpoint} does not take {', '.join(repr(u) for u in unknown)} "
                             f"(it takes: {takes})")


def _as_int(value: Any) -> int | None:
    """An integer, or a float with no fraction (JSON writers send 5.0 for 5); not a bool."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else None

