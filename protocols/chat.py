"""Chat Completions: the checks baton makes on requests and on upstream replies.

baton forwards Chat requests nearly untouched: unknown fields pass through, only `model` is
rewritten per candidate. So this module validates just what routing needs (`model`, `messages`,
`stream`), and reads upstream replies just enough to know whether they are whole:
- a non-streamed reply must be a JSON object with a `choices` list;
- a streamed chunk must be a JSON object; it carries content once any choice's delta has text,
  reasoning, a refusal or a tool call, or a finish reason. Until then a candidate can still be
  abandoned for the next one without the client ever seeing it.
"""

from __future__ import annotations

from typing import Any

import attrs

from protocols import jsoncodec
from protocols.errors import BadRequest
from protocols.failures import FailureClass, UpstreamFailure, classify_error_object, reply_object
from protocols.stream_usage import ask_for_usage

MAX_MODEL_NAME = 256  # longer names are no model's: they would only bloat logs and stats
_CONTENT_FIELDS = ("content", "reasoning_content", "reasoning", "refusal")


@attrs.frozen
class ChatRequest:
    payload: dict[str, Any] = attrs.field(repr=False)
    model: str
    stream: bool
    include_usage: bool
    size: int = 0  # bytes of the request as the client sent it: what token estimates start from
    # the upstream bodies made so far, by (model, ask_usage): a retry with the next key, or a
    # chain that names one model twice, sends the bytes already made instead of encoding the
    # whole payload again (a body of a million keys takes 50 ms a time, on the event loop)
    _bodies: dict[tuple[str, bool], bytes] = attrs.field(
        factory=dict, init=False, eq=False, repr=False
    )

    @classmethod
    def from_body(cls, body: bytes) -> ChatRequest:
        return cls.from_payload(parse_json_object(body), size=len(body))

    @classmethod
    def from_payload(cls, payload: dict[str, Any], *, size: int = 0) -> ChatRequest:
        """Validate a decoded request body (or one baton built, as from a Responses request);
        `size`: how many bytes the client's request had."""
        model = validate_model(payload.get("model"))
        messages = payload.get("messages")
        if messages is None:
            raise BadRequest(
                "'messages' is a required property",
                param="messages",
                code="missing_required_parameter",
            )
        if not isinstance(messages, list) or not messages:
            raise BadRequest(
                "'messages' must be a non-empty array", param="messages", code="invalid_type"
            )
        for index, message in enumerate(messages):
            if not isinstance(message, dict):
                raise BadRequest(
                    f"'messages[{index}]' must be an object",
                    param=f"messages[{index}]",
                    code="invalid_type",
                )
        stream = payload.get("stream", False)
        if stream is None:
            stream = False
        if not isinstance(stream, bool):
            raise BadRequest("'stream' must be a boolean", param="stream", code="invalid_type")
        options = payload.get("stream_options")
        include_usage = bool(stream and isinstance(options, dict) and options.get("include_usage"))
        return cls(
            payload=payload, model=model, stream=stream, include_usage=include_usage, size=size
        )

    def body_for(self, model: str, *, ask_usage: bool = False) -> bytes:
        """The upstream request body: the client's fields, with `model` set to the candidate's;
        `ask_usage`: a stream asks for its usage chunk even if the client did not."""
        ask_usage = ask_usage and self.stream and not self.include_usage
        made = self._bodies.get((model, ask_usage))
        if made is not None:
            return made
        payload = self.payload
        if ask_usage:
            payload, _ = ask_for_usage(payload)
        if model != self.model:
            payload = {**payload, "model": model}
        made = self._bodies[model, ask_usage] = jsoncodec.dumps(payload)
        return made


def validate_model(model: Any, *, missing: str = "you must provide a model parameter") -> str:
    """A request's `model`, checked as every API's routing needs it (it is echoed in headers
    and logs); `BadRequest` if not, `missing` its message when there is none."""
    if model is None:
        raise BadRequest(
            missing,
            param="model",
            code="missing_required_parameter",
        )
    if not isinstance(model, str) or not model.strip():
        raise BadRequest("'model' must be a non-empty string", param="model", code="invalid_type")
    if len(model) > MAX_MODEL_NAME:
        raise BadRequest(
            f"'model' is longer than {MAX_MODEL_NAME} characters",
            param="model",
            code="invalid_value",
        )
    if not model.isprintable():  # it is echoed in headers (x-baton-model): no CR, LF, NUL
        raise BadRequest(
            "'model' must not contain control characters", param="model", code="invalid_value"
        )
    return model


def parse_json_object(body: bytes) -> dict[str, Any]:
    if not body.strip():
        raise BadRequest("the request body is empty; expected a JSON object")
    try:
        payload = jsoncodec.loads(body)
    except UnicodeDecodeError:
        raise BadRequest("the request body is not valid UTF-8") from None
    except ValueError as exc:
        raise BadRequest(f"the request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise BadRequest("the request body is nested too deeply") from None
    if not isinstance(payload, dict):
        raise BadRequest("the request body must be a JSON object")
    return payload


@attrs.frozen
class ChunkInfo:
    content: bool
    finish_reason: str | None = None
    error: UpstreamFailure | None = None


def inspect_chunk(data: str) -> ChunkInfo:
    """Read one `data:` payload of an upstream stream. Raises ValueError if it is not a chunk."""
    chunk = jsoncodec.loads(data)
    if not isinstance(chunk, dict):
        raise ValueError("a stream chunk must be a JSON object")
    error = chunk.get("error")
    if error is not None:
        error_object = error if isinstance(error, dict) else {"message": str(error)}
        return ChunkInfo(content=False, error=classify_error_object(error_object))
    choices = chunk.get("choices")
    if choices is None:
        if "usage" in chunk:
            return ChunkInfo(content=False)
        raise ValueError("a stream chunk has neither choices nor usage")
    if not isinstance(choices, list):
        raise ValueError("'choices' of a stream chunk must be an array")
    content = False
    finish_reason = None
    for choice in choices:
        if not isinstance(choice, dict):
            raise ValueError("a choice of a stream chunk must be an object")
        reason = choice.get("finish_reason")
        if reason:
            finish_reason = str(reason)
            content = True
        delta = choice.get("delta")
        if isinstance(delta, dict) and not content:
            content = bool(delta.get("tool_calls") or delta.get("function_call")) or any(
                isinstance(delta.get(name), str) and delta.get(name) for name in _CONTENT_FIELDS
            )
    return ChunkInfo(content=content, finish_reason=finish_reason)


def check_completion(body: bytes) -> UpstreamFailure | None:
    """None if a 200 body is a chat completion; otherwise what is wrong with it."""
    reply = reply_object(body)
    if isinstance(reply, UpstreamFailure):
        return reply
    if reply.get("error") is not None and not reply.get("choices"):
        error = reply["error"]
        return classify_error_object(
            error if isinstance(error, dict) else {"message": str(error)}, status=200
        )
    if not isinstance(reply.get("choices"), list):
        return UpstreamFailure(
            FailureClass.MALFORMED, "upstream reply has no 'choices' array", status=200
        )
    return None
