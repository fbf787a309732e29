"""Requests checked against a Google API discovery document, as Google's front end checks
them: the stand-in Sheets server (tests/fakes/sheets_api.py) must not accept what the real
API would refuse.

Everything comes from the document google-api-python-client ships
(googleapiclient/discovery_cache/documents/sheets.v4.json), nothing is written here per
endpoint: the HTTP method and path template, the query parameters (known names, types,
enums, repetition), the `fields` partial-response selector against the response schema,
and the JSON body against the request schema, recursively through `$ref` (no unknown
field, JSON types, int32 range, enum values, and the google-fieldmask strings such as
updateCells.fields against the message they name).

What it does not know, because the document does not say it: which fields are required,
which fields form a oneof (a Request with two kinds), and A1-range syntax. Those are left
to the stand-in's own handlers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

INT32 = (-(2**31), 2**31 - 1)
# "The root is the CellData" / "The root `cell` is implied" in a google-fieldmask's
# description: what the mask's paths are relative to.
_MASK_ROOT = re.compile(r"The root (?:is the (\w+)|[`'\"](\w+)[`'\"] is implied)")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\*")
_BOOL = ("true", "false")


@dataclass(frozen=True)
class Method:
    id: str  # e.g. sheets.spreadsheets.values.batchGet
    http_method: str
    template: str  # e.g. v4/spreadsheets/{spreadsheetId}/values:batchGet
    pattern: re.Pattern[str]
    parameters: Mapping[str, Mapping[str, Any]]  # the method's own and the API-wide ones
    request: str | None  # the body's schema name
    response: str | None


@dataclass(frozen=True)
class Checked:
    """What a request was found to be, and what the real API would refuse in it."""

    method: Method | None
    path_parameters: Mapping[str, str]
    problems: tuple[str, ...]

    @property
    def status(self) -> int:
        """What Google answers: 404 for no such method, 400 for a bad request, else 200."""
        if self.method is None:
            return 404
        return 400 if self.problems else 200


class Discovery:
    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document
        self.schemas: Mapping[str, Mapping[str, Any]] = document["schemas"]
        common = document.get("parameters", {})
        methods: list[Method] = []

        def collect(resource: Mapping[str, Any]) -> None:
            for spec in resource.get("methods", {}).values():
                template = spec.get("flatPath", spec["path"])
                methods.append(
                    Method(
                        spec["id"],
                        spec["httpMethod"],
                        template,
                        _template_pattern(document.get("servicePath", "") + template),
                        {**common, **spec.get("parameters", {})},
                        spec.get("request", {}).get("$ref"),
                        spec.get("response", {}).get("$ref"),
                    )
                )
            for child in resource.get("resources", {}).values():
                collect(child)

        collect(document)
        # Templates with more literal text first: ".../values/{range}:clear" before
        # ".../values/{range}", whose {range} could otherwise swallow ":clear".
        self.methods = sorted(methods, key=lambda m: -len(re.sub(r"\{[^}]*\}", "", m.template)))

    @staticmethod
    @cache
    def sheets_v4() -> Discovery:
        documents = resources.files("googleapiclient.discovery_cache") / "documents"
        return Discovery(json.loads((documents / "sheets.v4.json").read_text(encoding="utf-8")))

    # -- a whole request --------------------------------------------------------------
    def check(
        self,
        http_method: str,
        path: str,
        query: Mapping[str, Sequence[str]],
        body: bytes,
    ) -> Checked:
        """`path` as sent (percent-encoded, from the first slash), `query` parsed."""
        relative = path.lstrip("/")
        matched: tuple[Method, dict[str, str]] | None = None
        for method in self.methods:
            found = method.pattern.fullmatch(relative)
            if found and method.http_method == http_method:
                matched = method, found.groupdict()
                break
        if matched is None:
            return Checked(None, {}, (f"no method {http_method} {path} in the discovery document",))
        method, path_parameters = matched
        problems: list[str] = []
        for name, value in path_parameters.items():
            problems += self._parameter(method, name, [value], "path")
        for name, values in query.items():
            problems += self._parameter(method, name, list(values), "query")
        for name, spec in method.parameters.items():
            if spec.get("required") and name not in query and name not in path_parameters:
                problems.append(f"required parameter {name} is missing")
        if "fields" in query and method.response:
            for selector in query["fields"]:
                problems += self.selector_problems(selector, method.response)
        if method.request is None:
            if body.strip():
                problems.append(f"{method.id} takes no request body")
        else:
            try:
                payload = json.loads(body.decode("utf-8")) if body.strip() else {}
            except (UnicodeDecodeError, ValueError) as error:
                problems.append(f"Invalid JSON payload received. {error}")
            else:
                problems += self.body_problems(payload, method.request)
        return Checked(method, path_parameters, tuple(problems))

    def method(self, method_id: str) -> Method:
        return next(m for m in self.methods if m.id == method_id)

    # -- parameters -------------------------------------------------------------------
    def _parameter(self, method: Method, name: str, values: list[str], where: str) -> list[str]:
        spec = method.parameters.get(name)
        if spec is None or spec.get("location", "query") != where:
            return [f'Unknown name "{name}": Cannot bind query parameter.']
        if len(values) > 1 and not spec.get("repeated"):
            return [f'parameter "{name}" given {len(values)} times but is not repeated']
        problems: list[str] = []
        for value in values:
            kind = spec.get("type", "string")
            if "enum" in spec and value not in spec["enum"]:
                problems.append(
                    f"Invalid value at '{name}': \"{value}\" is not one of {spec['enum']}"
                )
            elif kind == "boolean" and value not in _BOOL:
                problems.append(f"Invalid value at '{name}' (TYPE_BOOL), \"{value}\"")
            elif kind == "integer" and not re.fullmatch(r"-?\d+", value):
                problems.append(f"Invalid value at '{name}' (TYPE_INT32), \"{value}\"")
        return problems

    # -- bodies -----------------------------------------------------------------------
    def body_problems(self, payload: Any, schema_name: str) -> list[str]:
        problems: list[str] = []
        self._value(payload, {"$ref": schema_name}, "", problems, None)
        return problems

    def _resolve(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        while "$ref" in schema:
            schema = self.schemas[schema["$ref"]]
        return schema

    def _value(
        self,
        value: Any,
        schema: Mapping[str, Any],
        at: str,
        problems: list[str],
        siblings: Mapping[str, Any] | None,
    ) -> None:
        where = at or "the request body"
        if value is None:
            return  # JSON null is the field's default, for proto3 JSON as for Google
        schema = self._resolve(schema)
        kind = schema.get("type")
        if kind == "any":
            return
        if kind == "object":
            if not isinstance(value, dict):
                problems.append(
                    f"Invalid value at '{where}': expected an object, got {value!r:.60}"
                )
                return
            properties = schema.get("properties", {})
            extra = schema.get("additionalProperties")
            for key, item in value.items():
                path = f"{at}.{key}" if at else key
                if key in properties:
                    self._value(item, properties[key], path, problems, properties)
                elif extra is not None:
                    self._value(item, extra, path, problems, None)
                else:
                    problems.append(
                        f'Invalid JSON payload received. Unknown name "{key}" at '
                        f"'{at or schema.get('id', 'body')}': Cannot find field."
                    )
            return
        if kind == "array":
            if not isinstance(value, list):
                problems.append(f"Invalid value at '{where}': expected a list, got {value!r:.60}")
                return
            for index, item in enumerate(value):
                if item is None and self._resolve(schema["items"]).get("type") != "any":
                    problems.append(f"Invalid value at '{where}[{index}]': null in a list")
                    continue
                self._value(item, schema["items"], f"{at}[{index}]", problems, None)
            return
        if kind == "boolean":
            if not isinstance(value, bool):
                problems.append(f"Invalid value at '{where}' (TYPE_BOOL), {value!r:.60}")
            return
        if kind == "integer":
            number = value
            if isinstance(value, str) and re.fullmatch(r"-?\d+", value):
                number = int(value)  # proto3 JSON takes quoted integers too
            elif isinstance(value, float) and value.is_integer():
                number = int(value)
            if not isinstance(number, int) or isinstance(number, bool):
                problems.append(f"Invalid value at '{where}' (TYPE_INT32), {value!r:.60}")
            elif schema.get("format") == "int32" and not INT32[0] <= number <= INT32[1]:
                problems.append(f"Invalid value at '{where}' (TYPE_INT32), {value}: out of range")
            return
        if kind == "number":
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                problems.append(f"Invalid value at '{where}' (TYPE_DOUBLE), {value!r:.60}")
            elif isinstance(value, str) and value not in ("NaN", "Infinity", "-Infinity"):
                try:
                    float(value)
                except ValueError:
                    problems.append(f"Invalid value at '{where}' (TYPE_DOUBLE), {value!r:.60}")
            return
        if kind == "string":
            if not isinstance(value, str):
                problems.append(f"Invalid value at '{where}' (TYPE_STRING), {value!r:.60}")
            elif "enum" in schema and value not in schema["enum"]:
                problems.append(
                    f"Invalid value at '{where}' (TYPE_ENUM), \"{value}\"; "
                    f"expected one of {', '.join(schema['enum'])}"
                )
            elif schema.get("format") == "google-fieldmask":
                problems += self._mask_problems(value, schema, siblings, where)
            return
        problems.append(f"Invalid value at '{where}': the document has no type for it")

    # -- field masks and selectors ------------------------------------------------------
    def _mask_problems(
        self,
        mask: str,
        schema: Mapping[str, Any],
        siblings: Mapping[str, Any] | None,
        where: str,
    ) -> list[str]:
        """A google-fieldmask body field (updateCells.fields…), checked against the message
        its description names as the root."""
        if not mask.strip():
            return [f"Invalid value at '{where}': at least one field must be specified"]
        found = _MASK_ROOT.search(schema.get("description", ""))
        if found is None:
            return []
        root: Mapping[str, Any] | None = None
        if found.group(1) in self.schemas:
            root = {"$ref": found.group(1)}
        elif siblings is not None and found.group(2) in siblings:
            root = siblings[found.group(2)]
        elif found.group(2) in self.schemas:
            root = {"$ref": found.group(2)}
        if root is None:
            return []
        if mask.strip() == "*":
            return []
        problems: list[str] = []
        for path in mask.split(","):
            problems += self._path_problems(path.strip().split("."), root, f"{where}: {mask}")
        return problems

    def selector_problems(self, selector: str, schema_name: str) -> list[str]:
        """The `fields` partial-response selector, e.g. "sheets(properties(title),data)",
        against the response schema: every name must be a field there."""
        try:
            items, end = _parse_selector(selector, 0)
        except ValueError as error:
            return [f"Invalid field selection {selector}: {error}"]
        if end != len(selector):
            return [f"Invalid field selection {selector}: unbalanced ')'"]
        return self._selection_problems(items, {"$ref": schema_name}, selector)

    def _selection_problems(
        self, items: list[tuple[list[str], list[Any]]], schema: Mapping[str, Any], whole: str
    ) -> list[str]:
        problems: list[str] = []
        for path, children in items:
            wrong = self._path_problems(path, schema, whole)
            problems += wrong
            if children and not wrong:
                problems += self._selection_problems(children, self._walk(path, schema), whole)
        return problems

    def _walk(self, path: list[str], schema: Mapping[str, Any]) -> Mapping[str, Any]:
        for name in path:
            schema = self._element(schema)
            if name == "*":
                return {"type": "any"}
            if "additionalProperties" in schema:
                schema = schema["additionalProperties"]
            else:
                schema = schema.get("properties", {}).get(name, {"type": "any"})
        return schema

    def _element(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        schema = self._resolve(schema)
        while schema.get("type") == "array":
            schema = self._resolve(schema["items"])
        return schema

    def _path_problems(self, path: list[str], schema: Mapping[str, Any], whole: str) -> list[str]:
        for name in path:
            schema = self._element(schema)
            if name == "*" or schema.get("type") == "any":
                return []
            if "additionalProperties" in schema:
                schema = schema["additionalProperties"]
                continue
            properties = schema.get("properties", {})
            if name not in properties:
                return [f"Invalid field selection {name} (in {whole})"]
            schema = properties[name]
        return []


def _template_pattern(template: str) -> re.Pattern[str]:
    """ "v4/spreadsheets/{spreadsheetId}/values/{range}" → a regex with named groups; a
    parameter is one path segment (Google's client percent-encodes '/' inside one)."""
    parts = re.split(r"\{\+?(\w+)\}", template)
    regex = "".join(
        re.escape(part) if i % 2 == 0 else f"(?P<{part}>[^/]+?)" for i, part in enumerate(parts)
    )
    return re.compile(regex)


def _parse_selector(text: str, at: int) -> tuple[list[tuple[list[str], list[Any]]], int]:
    """ "a.b,c(d,e/f)" → [(["a", "b"], []), (["c"], [(["d"], []), (["e", "f"], [])])]."""
    items: list[tuple[list[str], list[Any]]] = []
    while True:
        path: list[str] = []
        while True:
            found = _NAME.match(text, at)
            if found is None:
                raise ValueError(f"a field name was expected at {at}")
            path.append(found.group())
            at = found.end()
            if at < len(text) and text[at] in "./":
                at += 1
                continue
            break
        children: list[Any] = []
        if at < len(text) and text[at] == "(":
            children, at = _parse_selector(text, at + 1)
            if at >= len(text) or text[at] != ")":
                raise ValueError("unbalanced '('")
            at += 1
        items.append((path, children))
        if at < len(text) and text[at] == ",":
            at += 1
            continue
        return items, at


def select(answer: Any, selector: str) -> Any:
    """An answer cut down to a `fields` selector, as Google's partial responses are. Cells
    and rows that keep nothing stay as {} so that list positions still mean something."""
    items, _ = _parse_selector(selector, 0)
    return _select(answer, items)


def _select(value: Any, items: list[tuple[list[str], list[Any]]]) -> Any:
    if isinstance(value, list):
        return [_select(item, items) for item in value]
    if not isinstance(value, dict):
        return value
    kept: dict[str, Any] = {}
    for path, children in items:
        name, rest = path[0], path[1:]
        names = list(value) if name == "*" else [name] if name in value else []
        for key in names:
            if rest:
                inner = _select(value[key], [(rest, children)])
            elif children:
                inner = _select(value[key], children)
            else:
                inner = value[key]
            if key in kept and isinstance(kept[key], dict) and isinstance(inner, dict):
                kept[key] = _merge(kept[key], inner)
            elif key in kept and isinstance(kept[key], list) and isinstance(inner, list):
                kept[key] = [_merge(a, b) for a, b in zip(kept[key], inner, strict=True)]
            else:
                kept[key] = inner
    return kept


def _merge(a: Any, b: Any) -> Any:
    if isinstance(a, dict) and isinstance(b, dict):
        return {**a, **{k: _merge(a[k], v) if k in a else v for k, v in b.items()}}
    if isinstance(a, list) and isinstance(b, list):
        return [_merge(x, y) for x, y in zip(a, b, strict=True)]
    return b
