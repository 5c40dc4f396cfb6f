"""Chat message content as Anthropic content blocks: the pieces `upstream_request` assembles.

Chat content is a string or a list of parts; Anthropic's is a string or a list of blocks:
- `text` parts become `text` blocks (a `cache_control` on the part is kept: it is how clients
  that know Anthropic mark cache breakpoints through OpenAI-shaped SDKs). Anthropic refuses an
  empty text block, so empty text is left out.
- `image_url` parts become `image` blocks: a `data:` URL as a base64 source (its media type
  from the URL), an http(s) URL as a `url` source. The part's `detail` has no counterpart.
- `file` parts with `file_data` (a `data:` URL, as OpenAI's SDK sends a PDF) become `document`
  blocks with a base64 source (`title` from `filename`). A `file_id` names a file in OpenAI's
  store, which Anthropic cannot read.
- An assistant's `refusal` part is text it said.
Anything else (`input_audio`, a file by id, a part of unknown type) cannot be said to Anthropic:
`BadRequest`, which names the message and the part.
"""

from __future__ import annotations

from typing import Any

from protocols.errors import BadRequest

Block = dict[str, Any]

_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})


def text_block(text: str, part: dict[str, Any] | None = None) -> Block:
    block: Block = {"type": "text", "text": text}
    if part is not None and isinstance(part.get("cache_control"), dict):
        block["cache_control"] = part["cache_control"]
    return block


def blocks_of(content: Any, where: str) -> list[Block]:
    """A user or assistant message's `content` as a list of blocks (None: no blocks)."""
    if content is None:
        return []
    if isinstance(content, str):
        return [text_block(content)] if content else []
    if not isinstance(content, list):
        raise BadRequest(f"'{where}.content' must be a string or an array", param=where)
    blocks: list[Block] = []
    for index, part in enumerate(content):
        block = _block_of(part, f"{where}.content[{index}]")
        if block is not None:
            blocks.append(block)
    return blocks


def text_of(content: Any, where: str) -> str:
    """Content that can only be text (a system message's), joined."""
    return "\n\n".join(
        block["text"] for block in blocks_of(content, where) if block["type"] == "text"
    )


def tool_result_content(content: Any, where: str) -> str | list[Block]:
    """A `tool` message's content as a `tool_result`'s: a string stays one; parts become
    text and image blocks."""
    if isinstance(content, str):
        return content
    blocks = blocks_of(content, where)
    for block in blocks:
        if block["type"] not in ("text", "image"):
            raise BadRequest(f"'{where}' may only hold text and images", param=where)
    return blocks


def _block_of(part: Any, where: str) -> Block | None:
    if not isinstance(part, dict):
        raise BadRequest(f"'{where}' must be an object", param=where)
    kind = part.get("type")
    if kind == "text" or kind == "refusal":
        text = part.get(kind)
        if not isinstance(text, str):
            raise BadRequest(f"'{where}.{kind}' must be a string", param=where)
        return text_block(text, part) if text else None
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        if not isinstance(url, str):
            raise BadRequest(f"'{where}.image_url.url' must be a string", param=where)
        return _with_cache(part, {"type": "image", "source": _image_source(url, where)})
    if kind == "file":
        return _with_cache(part, _document(part.get("file"), where))
    raise BadRequest(
        f"'{where}': content of type {kind!r} cannot be sent to Anthropic", param=where
    )


def _image_source(url: str, where: str) -> Block:
    if url.startswith(("http://", "https://")):
        return {"type": "url", "url": url}
    media_type, data = _data_url(url, where)
    if media_type not in _IMAGE_TYPES:
        raise BadRequest(f"'{where}': image type {media_type!r} is not supported", param=where)
    return {"type": "base64", "media_type": media_type, "data": data}


def _document(file: Any, where: str) -> Block:
    if not isinstance(file, dict) or not isinstance(file.get("file_data"), str):
        raise BadRequest(
            f"'{where}': only files sent inline (file_data) can be sent to Anthropic", param=where
        )
    media_type, data = _data_url(file["file_data"], where)
    if media_type != "application/pdf":
        raise BadRequest(f"'{where}': file type {media_type!r} is not supported", param=where)
    block: Block = {
        "type": "document",
        "source": {"type": "base64", "media_type": media_type, "data": data},
    }
    if isinstance(file.get("filename"), str) and file["filename"]:
        block["title"] = file["filename"]
    return block


def _data_url(url: str, where: str) -> tuple[str, str]:
    """`data:<media type>;base64,<data>` as (media type, data)."""
    head, comma, data = url.partition(",")
    if not head.startswith("data:") or not comma or not head.endswith(";base64"):
        raise BadRequest(f"'{where}': expected a base64 data: URL or an http(s) URL", param=where)
    return head[len("data:") : -len(";base64")].lower(), data


def _with_cache(part: dict[str, Any], block: Block) -> Block:
    if isinstance(part.get("cache_control"), dict):
        block["cache_control"] = part["cache_control"]
    return block
