"""Anthropic content blocks a user sends, as Chat Completions content parts.

- `text` -> a `text` part.
- `image` -> an `image_url` part: a `base64` source becomes a `data:` URL of its media type, a
  `url` source is passed as it is (the upstream fetches it, as Anthropic would).
- `document` -> a PDF (`base64` source, `application/pdf`) becomes a Chat `file` part whose
  `file_data` is a `data:` URL, named by the document's `title` (else `document.pdf`); a plain
  text source (`text`) becomes a text part, and a `content` source its own text and image
  blocks. A document's `title` and `context` are metadata for Anthropic's citations, which Chat
  has not got, so they are not sent as text.
- `file` sources (Anthropic's Files API) and `url` PDF sources are refused: Chat's file part
  takes only inline data or an OpenAI file id, and baton keeps no files.
`cache_control` and `citations` on any block are Anthropic's own caching and citation switches,
with no Chat form: they are ignored, which changes the cost of a call but never its answer.

Every check names its block's path, as `messages[3].content[1].source.media_type`.
"""

from __future__ import annotations

from typing import Any

from protocols.errors import BadRequest, Untranslatable

Part = dict[str, Any]

IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
_TEXT_SOURCE_TYPES = ("text/plain",)


def text_of(block: dict[str, Any], at: str) -> str:
    """The `text` of a text block."""
    text = block.get("text")
    if not isinstance(text, str):
        raise BadRequest(f"'{at}.text' must be a string", param=f"{at}.text")
    return text


def user_parts(block: dict[str, Any], at: str) -> list[Part]:
    """The Chat parts of one `text`, `image` or `document` block."""
    kind = block["type"]
    if kind == "text":
        return [text_part(text_of(block, at))]
    if kind == "image":
        return [image_part(block, at)]
    if kind == "document":
        return document_parts(block, at)
    raise BadRequest(f"a '{kind}' block cannot appear here", param=f"{at}.type")


def text_part(text: str) -> Part:
    return {"type": "text", "text": text}


def image_part(block: dict[str, Any], at: str) -> Part:
    source = _source(block, at)
    kind = source.get("type")
    if kind == "base64":
        media_type = _string(source, "media_type", f"{at}.source")
        if media_type not in IMAGE_TYPES:
            raise BadRequest(
                f"image media type must be one of {', '.join(IMAGE_TYPES)}",
                param=f"{at}.source.media_type",
            )
        url = f"data:{media_type};base64,{_string(source, 'data', f'{at}.source')}"
    elif kind == "url":
        url = _string(source, "url", f"{at}.source")
    else:
        raise _unsupported_source(kind, at, ("base64", "url"))
    return {"type": "image_url", "image_url": {"url": url}}


def document_parts(block: dict[str, Any], at: str) -> list[Part]:
    source = _source(block, at)
    kind = source.get("type")
    if kind == "base64":
        if source.get("media_type") != "application/pdf":
            raise BadRequest(
                "a base64 document must have media type 'application/pdf'",
                param=f"{at}.source.media_type",
            )
        data = _string(source, "data", f"{at}.source")
        title = block.get("title")
        filename = title if isinstance(title, str) and title else "document.pdf"
        return [
            {
                "type": "file",
                "file": {"filename": filename, "file_data": f"data:application/pdf;base64,{data}"},
            }
        ]
    if kind == "text":
        if source.get("media_type", "text/plain") not in _TEXT_SOURCE_TYPES:
            raise BadRequest(
                "a text document must have media type 'text/plain'",
                param=f"{at}.source.media_type",
            )
        return [text_part(_string(source, "data", f"{at}.source"))]
    if kind == "content":
        content = source.get("content")
        if isinstance(content, str):
            return [text_part(content)]
        return nested_parts(content, f"{at}.source.content", ("text", "image"))
    raise _unsupported_source(kind, at, ("base64", "text", "content"))


def nested_parts(content: Any, at: str, allowed: tuple[str, ...]) -> list[Part]:
    """The parts of a list of blocks inside another block (a tool result, a document)."""
    if not isinstance(content, list):
        raise BadRequest(f"'{at}' must be a string or an array of blocks", param=at)
    parts: list[Part] = []
    for index, block in enumerate(content):
        where = f"{at}[{index}]"
        if not isinstance(block, dict) or block.get("type") not in allowed:
            raise BadRequest(
                f"'{where}' must be a block of type {' or '.join(allowed)}", param=f"{where}.type"
            )
        parts += user_parts(block, where)
    return parts


def collapse(parts: list[Part]) -> str | list[Part]:
    """Parts that are all text as one string, joined with "\\n" as vLLM joins text parts for
    string-only chat templates: several Chat-only upstreams take nothing but strings."""
    if all(part["type"] == "text" for part in parts):
        return "\n".join(part["text"] for part in parts)
    return parts


def _source(block: dict[str, Any], at: str) -> dict[str, Any]:
    source = block.get("source")
    if not isinstance(source, dict):
        raise BadRequest(f"'{at}.source' must be an object", param=f"{at}.source")
    return source


def _string(value: dict[str, Any], field: str, at: str) -> str:
    text = value.get(field)
    if not isinstance(text, str) or not text:
        raise BadRequest(f"'{at}.{field}' must be a non-empty string", param=f"{at}.{field}")
    return text


def _unsupported_source(kind: Any, at: str, supported: tuple[str, ...]) -> BadRequest:
    if kind in ("file", "url"):
        return Untranslatable(
            f"'{kind}' sources have no Chat form here; send the data inline",
            param=f"{at}.source.type",
        )
    return BadRequest(
        f"'{at}.source.type' must be one of {', '.join(supported)}", param=f"{at}.source.type"
    )
