"""Small shared type aliases."""

from __future__ import annotations

from typing import Any, TypeAlias


__all__ = ["DERIVED", "JSON", "JSON_STRING", "WIRE", "JSONObject"]

#: Any value JSON can hold, as decoded by :func:`json.loads`.
JSON: TypeAlias = Any
#: A decoded JSON object.
JSONObject: TypeAlias = dict[str, Any]

#: Field metadata key: the field's value is JSON that the server stores as a string; it is
#: decoded on read and encoded on write.
JSON_STRING = "flowise_async.json_string"
#: Field metadata key: the field's wire name, when it is not the camelCase of its name.
WIRE = "flowise_async.wire"
#: Field metadata key: the client derives the field (run status, usage); it is neither read
#: from nor written to the wire.
DERIVED = "flowise_async.derived"
