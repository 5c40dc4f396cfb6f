"""Stored Responses in Redis or Valkey: the key layout, the Lua scripts, and the JSON codec.

No I/O here: `actors.store.redis_responses` runs these scripts through coredis.

**Keys.** Under `P = baton:<cluster>:` (one cluster: the gateways that share state), for each
response `<id>`:

    P resp:<id>     HASH  json (the response, its `output` list emptied), created_at
    P in:<id>       LIST  the input items, as JSON, in order
    P inids:<id>    LIST  their ids, one per item: `=<id>`, or `` for an item without one
    P out:<id>      LIST  the output items, as JSON, in order
    P outids:<id>   LIST  their ids, likewise
    P item:<item>   ZSET  the responses holding item `<item>`, scored by the put's sequence
    P seq           STRING  that sequence (INCR), shared by every instance

This is the SQLite layout (`actors.store.tables`) written as keys: output items stored once,
as items, so any item can be found by id (`item_reference`) and input items paged by position.
The `=` before an id keeps an item whose id is the empty string apart from one with none.

**Atomicity.** Each operation is one Lua script, which Redis runs alone: a reader never sees
half a put, and a put replacing a response removes the old one's index entries first. The
scripts build key names from the prefix they are given, so they need a single Redis or Valkey
(or a Sentinel-managed primary), not Redis Cluster, where a script's keys must share a slot.

**Expiry.** A put gives every key it writes the same TTL (`PEXPIRE`, the script's frozen clock,
so a response's keys expire together). `item:<item>` and `seq` are refreshed by every put that
touches them, never shortened (an instance with a shorter `ttl` cannot expire another's
index entries); a member of `item:<item>` whose response has expired is removed when `find_item`
meets it. `seq` expiring resets the sequence only when no put happened for a whole TTL, when
every `item:` set it ordered has expired too.

**Newest.** `find_item` answers from the response stored last that holds the item (the
sequence, not a wall clock, so clock skew between instances cannot reorder puts), and in it
the last output item with that id, else the last such input item, as SQLite does. A response
deleted or expired falls back to the next newest.
"""

from __future__ import annotations

import json
from typing import Any, cast

import attrs

from actors.store.tables import ItemPage, JsonObject, Order, StoredResponse

# ARGV: prefix, id, ttl (ms), response json, created_at, n_inputs, then n_inputs x (id, json),
# then the output items x (id, json).
PUT = """
local p, rid, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
local function extend(key)  -- shared keys live as long as their longest-lived writer wants
  if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
end
local oldids = {p .. 'inids:' .. rid, p .. 'outids:' .. rid}
for _, key in ipairs(oldids) do
  for _, tagged in ipairs(redis.call('LRANGE', key, 0, -1)) do
    if tagged ~= '' then redis.call('ZREM', p .. 'item:' .. string.sub(tagged, 2), rid) end
  end
end
local resp = p .. 'resp:' .. rid
local lists = {p .. 'in:' .. rid, oldids[1], p .. 'out:' .. rid, oldids[2]}
redis.call('DEL', resp, unpack(lists))
local seq = redis.call('INCR', p .. 'seq')
extend(p .. 'seq')
redis.call('HSET', resp, 'json', ARGV[4], 'created_at', ARGV[5])
redis.call('PEXPIRE', resp, ttl)
local inputs = tonumber(ARGV[6])
local at = 7
while at < #ARGV do
  local kind = (at < 7 + 2 * inputs) and 0 or 2
  local tagged = ARGV[at]
  redis.call('RPUSH', lists[kind + 1], ARGV[at + 1])
  redis.call('RPUSH', lists[kind + 2], tagged)
  if tagged ~= '' then
    local index = p .. 'item:' .. string.sub(tagged, 2)
    redis.call('ZADD', index, seq, rid)
    extend(index)
  end
  at = at + 2
end
for _, key in ipairs(lists) do redis.call('PEXPIRE', key, ttl) end
return seq
"""

# ARGV: prefix, id. Returns false, or {json, created_at, inputs, outputs}.
GET = """
local p, rid = ARGV[1], ARGV[2]
local row = redis.call('HMGET', p .. 'resp:' .. rid, 'json', 'created_at')
if not row[1] then return false end
return {row[1], row[2], redis.call('LRANGE', p .. 'in:' .. rid, 0, -1),
        redis.call('LRANGE', p .. 'out:' .. rid, 0, -1)}
"""

# ARGV: prefix, id. Returns 1 if there was such a response, else 0.
DELETE = """
local p, rid = ARGV[1], ARGV[2]
local resp = p .. 'resp:' .. rid
local found = redis.call('EXISTS', resp)
local ids = {p .. 'inids:' .. rid, p .. 'outids:' .. rid}
for _, key in ipairs(ids) do
  for _, tagged in ipairs(redis.call('LRANGE', key, 0, -1)) do
    if tagged ~= '' then redis.call('ZREM', p .. 'item:' .. string.sub(tagged, 2), rid) end
  end
end
redis.call('DEL', resp, p .. 'in:' .. rid, ids[1], p .. 'out:' .. rid, ids[2])
return found
"""

# ARGV: prefix, item id. Returns the item's JSON, or false.
FIND_ITEM = """
local p, tagged = ARGV[1], '=' .. ARGV[2]
local index = p .. 'item:' .. ARGV[2]
for _, rid in ipairs(redis.call('ZREVRANGE', index, 0, -1)) do
  if redis.call('EXISTS', p .. 'resp:' .. rid) == 1 then
    for _, kind in ipairs({'out', 'in'}) do
      local at = redis.call('LPOS', p .. kind .. 'ids:' .. rid, tagged, 'RANK', -1)
      if at then return redis.call('LINDEX', p .. kind .. ':' .. rid, at) end
    end
  end
  redis.call('ZREM', index, rid)
end
return false
"""

# ARGV: prefix, id, limit, 'asc' | 'desc', and the `after` item id if any. Returns up to
# limit + 1 input items as JSON, in list order (the caller reverses a 'desc' page).
INPUT_ITEMS = """
local p, rid, limit, asc = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4] == 'asc'
local items = p .. 'in:' .. rid
local first, last
if ARGV[5] then
  local at = redis.call('LPOS', p .. 'inids:' .. rid, '=' .. ARGV[5], 'RANK', asc and 1 or -1)
  if not at then return {} end
  if asc then first = at + 1 else last = at - 1 end
elseif asc then
  first = 0
else
  last = redis.call('LLEN', items) - 1
end
if asc then last = first + limit else first = math.max(0, last - limit) end
if last < 0 then return {} end
return redis.call('LRANGE', items, first, last)
"""


def dump(value: object) -> str:
    """Compact, ASCII-only JSON, as the SQLite store writes it."""
    return json.dumps(value, separators=(",", ":"))


def _tag(item: object) -> str:
    item_id = item.get("id") if isinstance(item, dict) else None
    return "=" + item_id if isinstance(item_id, str) else ""


@attrs.frozen
class EncodedPut:
    """A response made ready for `PUT`: its arguments after the prefix, id and TTL, and its
    size in bytes of JSON (what the size bound counts, as the SQLite store counts it)."""

    response_id: str
    arguments: list[str] = attrs.field(repr=False)
    size: int


def encode_put(
    response: JsonObject, input_items: list[JsonObject], created_at: float
) -> EncodedPut:
    """Raises ValueError for a response without a string id, TypeError for unstorable data."""
    response_id = response.get("id")
    if not isinstance(response_id, str):
        raise ValueError("a stored response needs a string 'id'")
    output = response.get("output")
    outputs: list[Any] = output if isinstance(output, list) else []
    body = dump({**response, "output": []} if isinstance(output, list) else response)
    arguments = [body, repr(created_at), str(len(input_items))]
    size = len(body)
    for item in [*input_items, *outputs]:
        text = dump(item)
        size += len(text)
        arguments += [_tag(item), text]
    return EncodedPut(response_id, arguments, size)


def decode_get(reply: Any) -> StoredResponse | None:
    if not reply:
        return None
    body, created_at, inputs, outputs = reply
    response = json.loads(body)
    if isinstance(response.get("output"), list):
        response["output"] = [json.loads(text) for text in outputs]
    return StoredResponse(response, [json.loads(text) for text in inputs], float(created_at))


def input_items_arguments(limit: int, order: Order, after: str | None) -> list[str]:
    """Raises ValueError for what the SQLite store refuses too."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    if order not in ("asc", "desc"):
        raise ValueError("order must be 'asc' or 'desc'")
    return [str(limit), order, *([] if after is None else [after])]


def decode_page(reply: Any, limit: int, order: Order) -> ItemPage:
    texts = list(reply) if order == "asc" else list(reversed(reply))
    return ItemPage([json.loads(text) for text in texts[:limit]], len(texts) > limit)


def decode_item(reply: Any) -> JsonObject | None:
    return None if not reply else cast(JsonObject, json.loads(reply))
