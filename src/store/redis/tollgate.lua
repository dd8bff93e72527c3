#!lua name=tollgate
--[[
tollgate.lua: the ledger's decisions as one Redis function library (Redis >= 7,
FUNCTION LOAD; no modules). Each tg_* function below is one atomic ledger
operation on one budget tree: Redis runs a function to the end before any
other command, so reserve, commit, release and record see and change the whole
path at once, on every node that calls them.

The rules are those of src/core/decide.c and budget.c (docs/ledger.md); the
differential test tests/redis/test_redis_ledger.c drives both with the same
random operations and requires identical answers, budget states and events
(every event of a decision is written in the call that decides: emit below).

Keys. Every key of a tree starts with P = "tg:{ROOT}:" (the caller passes P),
so one tree lives in one hash slot of a Redis Cluster (the hash tag is the
root's name). Functions reach the tree's keys from P = KEYS[1], which is never a
key itself; KEYS[2] = P .. "meta" is declared only so that, in a cluster, no call
runs on a tree that a resharding has split between two masters (the server checks
the declared keys' slot; every key reached from P is in that slot). The registry's
functions take KEYS[1] = "tg:{roots}" and reach "tg:{roots}:names" in its slot.

Packed values. A decision reads every budget of its path with one MGET and turns each
into numbers with one struct.unpack, and writes back (one MSET for the path) only the
budgets whose packed value changed. The hash of 22 fields this replaces cost a 2-level decision about
45 of its 92 us of Redis CPU in HMGET and tonumber() of 44 strings (docs/multi-node.md).
Integers are packed as 8-byte little-endian signed ('<l'): struct converts a Lua number
to a C long and back, exact for every integer below 2^53 in magnitude, which is every
value stored here (see Numbers). Strings are packed zero-terminated ('s'): budget
paths, tool and model names are C strings, so they hold no NUL.
  P.."meta"        hash   tree (the root's number)
  P.."ids"         string the last hold and charge sequence numbers, packed (IDS below):
                          read with the path's budgets and written with them, so a
                          decision makes no call of its own for a new id
  P.."b:"..path    string one budget's numbers packed (BUDGET below): limits, derived
                          ceilings, window, counters
  P.."d:"..path    string the budget's declared spec (text), read only by put and get
  P.."h:"..seq     string one open hold packed (HOLD below)
  P.."holds"       zset   open holds by expires_at_ms
  P.."k:"..key     string one remembered idempotency answer (IDEM below), with a PX expiry
  P.."keys"        zset   the remembered keys by the time each was made: how many the tree
                          remembers now, for idempotency_max ("size bounds" below)
  P.."paths"       zset   every budget path of the tree, score 0 (listed in byte order)
  P.."spend"       stream one entry per charge, its id "SEQ-0" (the charge's sequence, so
                          a reader pages by charge id), at most about CHARGES_KEEP entries
                          (the oldest trimmed: docs/multi-node.md, "Charges"); a field
                          whose value is "" or "0" is left out of the entry
  P.."windows"     stream one entry per closed window of a budget (roll, below): its
                          bounds, counters and the tree's last charge number then
  P.."events"      stream the tree's events (emit, below), its ids "SEQ-0" (P.."evseq" the
                          last SEQ), at most about EVENTS_KEEP entries (the oldest trimmed)
  P.."evseq"       string the tree's last event number (INCRBY once per call that emits)
The registry's slot: "tg:{roots}" (hash: root <-> number), ":names" (the roots in byte
order), and the ledger-wide events the collector copies (":events", ":evseq", ":copied":
see "the ledger-wide events" below).

Numbers. Lua numbers are IEEE doubles: integers are exact up to 2^53. The
caller (redis_ledger.c) refuses every limit above 2^53 - 1 and every amount
above TG_AMOUNT_MAX (1e15), and path_room below refuses any counter that
would pass 2^53 - 1, so every value stored or compared here is an exact
integer. A sum of three such values may reach 2^54, where doubles are exact
to 2 only; such a sum is only ever compared with a limit below 2^53, and a
value >= 2^53 never rounds below 2^53, so the comparison stays exact. Numbers
go back to Redis through fmt() (%d), never tostring() (%.14g loses digits).

Answers are flat arrays: {0, ...} on success, {status, message} on failure,
status being a negative tg_status of tollgate.h.
]]

local ERR_INVALID, ERR_NOT_FOUND, ERR_CONFLICT, ERR_STATE, ERR_RANGE = -1, -2, -4, -5, -6
local ERR_FULL = -7
local NONE = -1
local COUNTER_MAX = 9007199254740991 -- 2^53 - 1
local REASON_CEILING, REASON_REVOKED, REASON_FROZEN = 1, 2, 3
local REASON_CALLS, REASON_TOKENS, REASON_OVERRUN = 4, 5, 6
local FREES_CALLS, FREES_TOKENS, FREES_MICROS = 0, 1, 2
-- Charges kept per tree in P.."spend" (trimmed with MAXLEN ~, so a little more at times).
local CHARGES_KEEP = 1000000
local CHARGES_KEEP_TEXT = '1000000' -- as XADD's MAXLEN argument, made once
-- Entries one tg_charges call looks at, at most, so a read is one short turn of the
-- server (about a millisecond) however long the stream and whatever the filter.
local CHARGES_SCAN_MAX = 1000
-- Events kept per tree in P.."events" (trimmed with MAXLEN ~, as the charges).
local EVENTS_KEEP_TEXT = '100000'
-- Events one tg_events call answers, at most (a short turn of the server).
local EVENTS_SCAN_MAX = 1000
-- tg_event_kind of tollgate.h.
local EV_THRESHOLD, EV_REVOKED, EV_REINSTATED, EV_DENIED = 0, 1, 2, 3
local EV_OVERRUN, EV_HOLD_EXPIRED, EV_WINDOW_ROLLED, EV_BUDGET_CHANGED = 4, 5, 6, 7

local function fmt(x)
    return string.format('%d', x)
end

local function fail(status, message)
    return {status, message}
end

-- ---- events ----------------------------------------------------------------------------

-- The events of the call running now, each a flat list of XADD field/value pairs, written
-- to P.."events" when the call ends (events_flush, from `emitting`): so every event is
-- written in the same atomic call as the decision that caused it. Redis runs one function
-- at a time, so one list serves every call.
local pending = {}

-- An event's optional fields, in the entry's order, with their short names in the entry
-- (a stream entry stores its field names): class, reason, hold (its sequence in the tree),
-- amount, held, spent, limit, threshold, count, tool, detail. A field not given (nil) is
-- left out and read back as tollgate.h's "not set" (-1; 0 for hold, "" for text).
local EVENT_FIELDS = {'c', 'r', 'h', 'a', 'hd', 's', 'l', 'th', 'n', 'tl', 'd'}

-- Queues an event of `kind` about `budget` at `now`, as the core's tg__ledger_emit does.
local function emit(now, kind, budget, f)
    local e = {'k', string.format('%d', kind), 't', string.format('%d', now), 'b', budget}
    for _, name in ipairs(EVENT_FIELDS) do
        local v = f[name]
        if v ~= nil and v ~= '' then
            e[#e + 1] = name
            e[#e + 1] = type(v) == 'number' and string.format('%d', v) or v
        end
    end
    pending[#pending + 1] = e
end

-- Appends the call's events to the tree's stream, numbered on from P.."evseq".
local function events_flush(P)
    local n = #pending
    if n == 0 then
        return
    end
    local last = redis.call('INCRBY', P .. 'evseq', n)
    for i = 1, n do
        redis.call('XADD', P .. 'events', 'MAXLEN', '~', EVENTS_KEEP_TEXT,
                   string.format('%d', last - n + i) .. '-0', unpack(pending[i]))
    end
    pending = {}
end

-- A tree function whose events are written when it returns (refusals and failures too:
-- a window rolled before a refusal stays rolled, and reported, as in the core).
local function emitting(fn)
    return function(keys, args)
        pending = {}
        local out = fn(keys, args)
        events_flush(keys[1])
        return out
    end
end

-- The refusal of every operation on a budget that does not exist, worded as the core's.
local function no_budget(path)
    return fail(ERR_NOT_FOUND, "no budget '" .. path .. "'")
end

-- The refusal of an operation on a hold that is not open; `why` adds the ways it ends.
local function no_hold(seq, why)
    return fail(ERR_NOT_FOUND, 'hold ' .. seq .. ' is not open' ..
                    (why and ' (never made, or already committed, released or expired)' or ''))
end

-- ---- budgets ---------------------------------------------------------------------------

-- A budget is an array (built in one step from struct.unpack, where a table of 24 named
-- fields cost a hash insertion each): its path, the packed value it was read from (raw:
-- budget_save writes only when the packed value changed), then its numbers in packed
-- order: limit, calls_limit, tokens_limit, window, thr, c0..c3 (the derived class
-- ceilings), cap, frozen, ws, we (the window's bounds), spent, held, cu, ch (calls used
-- and held), tu, th (tokens used and held), revoked (a class bitmask), children, holds
-- (open holds on its subtree).
local PATH, RAW, LIMIT, CALLS_LIMIT, TOKENS_LIMIT, WINDOW, THR = 1, 2, 3, 4, 5, 6, 7
local C0, C1, C2, C3, CAP, FROZEN, WS, WE, SPENT, HELD = 8, 9, 10, 11, 12, 13, 14, 15, 16, 17
local CU, CH, TU, TH, REVOKED, CHILDREN, HOLDS = 18, 19, 20, 21, 22, 23, 24
-- After the packed numbers, the budget's alerts (budget.c's fire_alerts): FIRED a bitmask of
-- the alerts reported in this window, ALERTS false or {level1, ppm1, level2, ppm2, ...} in the
-- spec's order (each level its fraction of the limit in micros, rounded up by the caller).
local FIRED, ALERTS = 25, 26
local BUDGET = '<llllllllllllllllllllll' -- LIMIT .. HOLDS
local BUDGET_SIZE = 176 -- its bytes: 22 numbers of 8
-- The index of class c's ceiling.
local CEILING = {[0] = C0, C1, C2, C3}

-- A budget with alerts has them packed after BUDGET_SIZE: fired, count, then the pairs.
-- Without alerts nothing follows, so a budget without them costs no byte more (and a value
-- written before alerts were kept reads as a budget without them).
local function budget_unpack(path, raw)
    local b = {path, raw, struct.unpack(BUDGET, raw)} -- and the position after, at FIRED
    b[FIRED], b[ALERTS] = 0, false
    if #raw > BUDGET_SIZE then
        local fired, count, at = struct.unpack('<ll', raw, BUDGET_SIZE + 1)
        local alerts = {struct.unpack('<' .. string.rep('l', 2 * count), raw, at)}
        alerts[2 * count + 1] = nil -- the position after
        b[FIRED], b[ALERTS] = fired, alerts
    end
    return b
end

local function budget_pack(b)
    local raw = struct.pack(BUDGET, unpack(b, LIMIT, HOLDS))
    local alerts = b[ALERTS]
    if alerts and #alerts > 0 then
        raw = raw .. struct.pack('<ll' .. string.rep('l', #alerts), b[FIRED], #alerts / 2,
                                 unpack(alerts))
    end
    return raw
end

local function budget_load(P, path)
    local raw = redis.call('GET', P .. 'b:' .. path)
    if not raw then
        return nil
    end
    return budget_unpack(path, raw)
end

local function budget_save(P, b)
    local raw = budget_pack(b)
    if raw ~= b[RAW] then
        redis.call('SET', P .. 'b:' .. b[PATH], raw)
        b[RAW] = raw
    end
end

-- The paths from `path` up to its root: "a/b/c", "a/b", "a".
local function chain_paths(path)
    local paths = {path}
    local at = path
    while true do
        local cut = string.find(at, '/[^/]*$')
        if not cut then
            return paths
        end
        at = string.sub(at, 1, cut - 1)
        paths[#paths + 1] = at
    end
end

-- The tree's id counters (hold, charge) come with a chain, in chain.ids: only the one chain
-- of an operation that makes an id changes them, and chain_save writes them back.
local IDS = '<ll'

-- The budgets of the path, leaf first; nil when the leaf does not exist (a parent always
-- does: budgets are made parents first and deleted children first).

local function chain_load(P, path)
    local paths = chain_paths(path)
    local keys = {P .. 'ids'}
    for i, p in ipairs(paths) do
        keys[i + 1] = P .. 'b:' .. p
    end
    local values = redis.call('MGET', unpack(keys))
    local chain = {}
    for i, p in ipairs(paths) do
        local raw = values[i + 1]
        if not raw then
            return nil
        end
        chain[i] = budget_unpack(p, raw)
    end
    local ids = {hold = 0, charge = 0}
    if values[1] then
        ids.hold, ids.charge = struct.unpack(IDS, values[1])
        ids.raw = values[1]
    end
    chain.ids = ids
    return chain
end

-- Writes the budgets of the chain whose packed value changed, with one MSET.
local function chain_save(P, chain)
    local pairs_ = {}
    for _, b in ipairs(chain) do
        local raw = budget_pack(b)
        if raw ~= b[RAW] then
            pairs_[#pairs_ + 1] = P .. 'b:' .. b[PATH]
            pairs_[#pairs_ + 1] = raw
            b[RAW] = raw
        end
    end
    local ids = struct.pack(IDS, chain.ids.hold, chain.ids.charge)
    if ids ~= chain.ids.raw then
        pairs_[#pairs_ + 1] = P .. 'ids'
        pairs_[#pairs_ + 1] = ids
        chain.ids.raw = ids
    end
    if #pairs_ > 0 then
        redis.call('MSET', unpack(pairs_))
    end
end

local function has_bit(mask, c)
    return bit.band(mask, bit.lshift(1, c)) ~= 0
end

local function locked(b)
    return b[LIMIT] >= 0 and b[SPENT] > b[LIMIT]
end

-- Is the hold's budget `hold_path` on the subtree of `path`?
local function under(hold_path, path)
    return hold_path == path or string.sub(hold_path, 1, #path + 1) == path .. '/'
end

-- Lifts revocations whose ceiling is above spend again (window rolled, limit raised).
local function reinstate(b, now)
    if b[REVOKED] == 0 then
        return
    end
    for c = 0, 3 do
        if has_bit(b[REVOKED], c) then
            local ceiling = b[CEILING[c]]
            if not (ceiling >= 0 and b[SPENT] >= ceiling) then
                b[REVOKED] = bit.band(b[REVOKED], bit.bnot(bit.lshift(1, c)))
                emit(now, EV_REINSTATED, b[PATH],
                     {c = c, s = b[SPENT], l = b[LIMIT], th = ceiling})
            end
        end
    end
end

-- Window bounds of kind 1..4 (hour, day, week, month) at now, passed in by the caller
-- (computed by the core's tz.c in UTC, so both implementations share one calendar) as 8
-- arguments from args[from]; read only when a window is set or rolls, which is rare.
local function window_set(b, bounds)
    if b[WINDOW] == 0 then
        b[WS], b[WE] = 0, 0 -- lifetime: never rolls (the caller reads INT64_MIN, INT64_MAX)
    else
        local at = bounds.from + 2 * b[WINDOW] - 2
        b[WS], b[WE] = tonumber(bounds.args[at]), tonumber(bounds.args[at + 1])
    end
end

-- Rolls b's window when now is past its end. The stored end is the one every daemon
-- compares with, so a window rolls once, at the first daemon whose clock passes it; a
-- daemon whose clock is behind finds now < the new end and charges into the new window,
-- never into the closed one. The closed window goes to P.."windows" (history), with the
-- tree's last charge number then: charges numbered up to it were counted in it. `ids` is
-- the chain's id counters (chain_load), or nil outside a chain: then read from P.."ids".
local function roll(P, b, now, bounds, ids)
    if b[WINDOW] == 0 or now < b[WE] then
        return
    end
    local last_charge = 0
    if ids then
        last_charge = ids.charge
    else
        local raw = redis.call('GET', P .. 'ids')
        if raw then
            local _
            _, last_charge = struct.unpack(IDS, raw)
        end
    end
    redis.call('XADD', P .. 'windows', '*', 'budget', b[PATH], 'start', fmt(b[WS]), 'end',
               fmt(b[WE]), 'spent', fmt(b[SPENT]), 'calls', fmt(b[CU]), 'tokens', fmt(b[TU]),
               'last_charge', fmt(last_charge), 'rolled_at', fmt(now))
    emit(now, EV_WINDOW_ROLLED, b[PATH], {s = b[SPENT], l = b[LIMIT], n = b[CU]})
    b[SPENT], b[CU], b[TU], b[FIRED] = 0, 0, 0, 0
    window_set(b, bounds)
    reinstate(b, now)
end

-- A hold packed: amount, tokens, cls, created, expires, cancel (0 or 1), then its budget's
-- path, tool and model.
local HOLD = '<llllllsss'

local function hold_pack(h)
    return struct.pack(HOLD, h.amount, h.tokens, h.cls, h.created, h.expires, h.cancel, h.budget,
                       h.tool, h.model)
end

local function hold_load(P, seq)
    local raw = redis.call('GET', P .. 'h:' .. seq)
    if not raw then
        return nil
    end
    local amount, tokens, cls, created, expires, cancel, budget, tool, model =
        struct.unpack(HOLD, raw)
    return {seq = seq, budget = budget, amount = amount, tokens = tokens, cls = cls,
            tool = tool, model = model, created = created, expires = expires, cancel = cancel}
end

-- Tells every open hold of class `cls` on b's subtree to cancel; returns how many.
local function cancel_holds(P, b, cls)
    if b[HOLDS] == 0 then
        return 0
    end
    local told = 0
    for _, seq in ipairs(redis.call('ZRANGE', P .. 'holds', 0, -1)) do
        local h = hold_load(P, seq)
        if h.cls == cls and h.cancel == 0 and under(h.budget, b[PATH]) then
            h.cancel = 1
            redis.call('SET', P .. 'h:' .. seq, hold_pack(h))
            told = told + 1
        end
    end
    return told
end

-- Alerts not yet reported in this window that spend has reached, each once (budget.c's
-- fire_alerts; b has a limit).
local function fire_alerts(b, now)
    local alerts = b[ALERTS]
    if not alerts then
        return
    end
    for i = 1, #alerts / 2 do
        local level, bit_i = alerts[2 * i - 1], bit.lshift(1, i - 1)
        if bit.band(b[FIRED], bit_i) == 0 and b[SPENT] >= level then
            b[FIRED] = bit.bor(b[FIRED], bit_i)
            emit(now, EV_THRESHOLD, b[PATH],
                 {s = b[SPENT], l = b[LIMIT], th = level, n = alerts[2 * i]})
        end
    end
end

-- Alerts and revocations a charge or a new limit reached, then reinstatements.
local function check_levels(P, b, now)
    if b[LIMIT] < 0 then
        reinstate(b, now)
        return
    end
    fire_alerts(b, now)
    for c = 0, 3 do
        local ceiling = b[CEILING[c]]
        if not has_bit(b[REVOKED], c) and b[SPENT] >= ceiling then
            b[REVOKED] = bit.bor(b[REVOKED], bit.lshift(1, c))
            local told = cancel_holds(P, b, c)
            emit(now, EV_REVOKED, b[PATH],
                 {c = c, s = b[SPENT], l = b[LIMIT], th = ceiling, n = told})
        end
    end
    reinstate(b, now)
end

-- ---- holds ------------------------------------------------------------------------------

-- Takes the hold off its path's counters and deletes it; the chain is saved by the caller.
local function hold_close(P, h, chain)
    for _, b in ipairs(chain) do
        b[HELD] = b[HELD] - h.amount
        b[CH] = b[CH] - 1
        b[TH] = b[TH] - h.tokens
        b[HOLDS] = b[HOLDS] - 1
        assert(b[HELD] >= 0 and b[CH] >= 0 and b[TH] >= 0 and b[HOLDS] >= 0, 'negative counter')
    end
    redis.call('DEL', P .. 'h:' .. h.seq)
    redis.call('ZREM', P .. 'holds', h.seq)
end

-- Releases every hold of the tree whose deadline is at or before now; true when any was.
local function holds_expire(P, now)
    local due = redis.call('ZRANGEBYSCORE', P .. 'holds', '-inf', fmt(now))
    for _, seq in ipairs(due) do
        local h = hold_load(P, seq)
        local chain = chain_load(P, h.budget)
        hold_close(P, h, chain)
        chain_save(P, chain)
        emit(now, EV_HOLD_EXPIRED, h.budget,
             {c = h.cls, h = seq, a = h.amount, hd = h.amount, tl = h.tool ~= '' and h.tool or h.model})
    end
    return #due > 0
end

-- The path's chain after expiring the tree's due holds, as holds_expire then chain_load
-- would give, nil when the leaf does not exist. When the tree has no open hold (its root,
-- the chain's last budget, counts them all) there is nothing to expire, and the
-- ZRANGEBYSCORE is not made: most decisions of a tree without holds (charges) skip it.
local function chain_load_expired(P, path, now)
    local chain = chain_load(P, path)
    if chain and chain[#chain][HOLDS] == 0 then
        return chain
    end
    if holds_expire(P, now) then
        chain = chain_load(P, path)
    end
    return chain
end

-- ---- deciding ---------------------------------------------------------------------------

-- The earliest time by which the holds on b's subtree that expired by then free at
-- least `needed`; NONE when all of them together free less (decide.c: enough_expired).
local function enough_expired(P, b, dimension, needed)
    if b[HOLDS] == 0 then
        return NONE
    end
    local freed = 0
    local all = redis.call('ZRANGE', P .. 'holds', 0, -1, 'WITHSCORES')
    for i = 1, #all, 2 do
        local h = hold_load(P, all[i])
        if under(h.budget, b[PATH]) then
            local amount = 1
            if dimension == FREES_TOKENS then
                amount = h.tokens
            elseif dimension == FREES_MICROS then
                amount = h.amount
            end
            freed = freed + amount
            if freed >= needed then
                return tonumber(all[i + 1])
            end
        end
    end
    return NONE
end

local function retry_after(P, b, dimension, used, held, asked, level, holds_matter, now)
    local at = NONE
    if holds_matter and used + asked <= level then
        at = enough_expired(P, b, dimension, used + held + asked - level)
    end
    if asked <= level and b[WINDOW] ~= 0 and (at < 0 or b[WE] < at) then
        at = b[WE]
    end
    if at < 0 then
        return NONE
    end
    return at - now > 1 and at - now or 1
end

-- What class `cls` could still hold on the whole path with `tokens` tokens; NONE: no limit.
local function headroom(chain, cls, tokens)
    local room_min = NONE
    for _, b in ipairs(chain) do
        if b[FROZEN] == 1 or locked(b) or has_bit(b[REVOKED], cls) then
            return 0
        end
        if b[CALLS_LIMIT] >= 0 and b[CU] + b[CH] + 1 > b[CALLS_LIMIT] then
            return 0
        end
        if b[TOKENS_LIMIT] >= 0 and b[TU] + b[TH] + tokens > b[TOKENS_LIMIT] then
            return 0
        end
        local ceiling = b[CEILING[cls]]
        if ceiling >= 0 then
            local room = ceiling - b[SPENT] - b[HELD]
            if room < 0 then
                room = 0
            end
            if room_min < 0 or room < room_min then
                room_min = room
            end
        end
    end
    return room_min
end

-- nil when b admits the ask, else {reason, budget, max_amount, retry_after}.
local function budget_admits(P, b, amount, tokens, cls, now)
    local ceiling = b[CEILING[cls]]
    if b[FROZEN] == 1 then
        return {REASON_FROZEN, b[PATH], 0, NONE}
    elseif locked(b) then
        return {REASON_OVERRUN, b[PATH], 0,
                retry_after(P, b, FREES_MICROS, 0, 0, amount, ceiling, false, now)}
    elseif b[CALLS_LIMIT] >= 0 and b[CU] + b[CH] + 1 > b[CALLS_LIMIT] then
        return {REASON_CALLS, b[PATH], 0,
                retry_after(P, b, FREES_CALLS, b[CU], b[CH], 1, b[CALLS_LIMIT], true, now)}
    elseif b[TOKENS_LIMIT] >= 0 and b[TU] + b[TH] + tokens > b[TOKENS_LIMIT] then
        return {REASON_TOKENS, b[PATH], 0,
                retry_after(P, b, FREES_TOKENS, b[TU], b[TH], tokens, b[TOKENS_LIMIT], true, now)}
    elseif b[LIMIT] >= 0 then
        local total = b[SPENT] + b[HELD] + amount
        local revoked = has_bit(b[REVOKED], cls)
        if total <= b[LIMIT] and not revoked and total <= ceiling then
            return nil
        end
        local reason = total > b[LIMIT] and REASON_CEILING or REASON_REVOKED
        return {reason, b[PATH], 0,
                retry_after(P, b, FREES_MICROS, b[SPENT], b[HELD], amount, ceiling, not revoked, now)}
    end
    return nil
end

local function path_admits(P, chain, amount, tokens, cls, now)
    for _, b in ipairs(chain) do
        local refusal = budget_admits(P, b, amount, tokens, cls, now)
        if refusal then
            if refusal[1] == REASON_CEILING or refusal[1] == REASON_REVOKED then
                local room = headroom(chain, cls, tokens)
                refusal[3] = room < 0 and 0 or room
            end
            return refusal
        end
    end
    return nil
end

-- Refuses amounts that would push a counter of the path past COUNTER_MAX: the refusal, with
-- the windows already rolled saved first, or nil.
local function path_room(P, chain, held_delta, spent_delta, tokens_delta)
    for _, b in ipairs(chain) do
        if b[HELD] + held_delta > COUNTER_MAX or b[SPENT] + spent_delta > COUNTER_MAX or
            b[TU] + b[TH] + tokens_delta > COUNTER_MAX then
            chain_save(P, chain)
            return fail(ERR_RANGE, "budget '" .. b[PATH] .. "' cannot count that much more")
        end
    end
    return nil
end

local function path_roll(P, chain, now, bounds)
    for _, b in ipairs(chain) do
        roll(P, b, now, bounds, chain.ids)
    end
end

-- Charges `cost` on the whole path; returns the charge's sequence number. cost_text and
-- now_text are cost and now as %d text: the caller passes its argument's own text when it
-- has one (the C side formats every number with %lld), saving a string.format each.
local function charge(P, chain, cost, cost_text, tokens, row, now_text)
    for _, b in ipairs(chain) do
        b[SPENT] = b[SPENT] + cost
        b[CU] = b[CU] + 1
        b[TU] = b[TU] + tokens
    end
    chain.ids.charge = chain.ids.charge + 1
    local seq = chain.ids.charge
    -- The entry's fields: seq, time, budget and cost always; of `row`'s name/value pairs
    -- only those that are not "" or "0" (a reader takes a missing field as that).
    local entry = {P .. 'spend', 'MAXLEN', '~', CHARGES_KEEP_TEXT, fmt(seq) .. '-0', 'seq',
                   fmt(seq), 'time', now_text, 'budget', chain[1][PATH], 'cost', cost_text}
    local n = 13
    for i = 1, #row, 2 do
        local value = row[i + 1]
        if value ~= '' and value ~= '0' then
            entry[n + 1] = row[i]
            entry[n + 2] = value
            n = n + 2
        end
    end
    redis.call('XADD', unpack(entry))
    return seq
end

-- After a charge: an overrun event when it passed its hold (`above`) or left a budget of the
-- path above its limit, naming the first such budget from the leaf up (else the leaf), then
-- the path's alerts and revocations, in the core's order (decide.c: report_overrun, then
-- report_levels), so an admin reads cause before effect.
local function report_charge(P, chain, now, above, f)
    local named = above and chain[1] or nil
    for _, b in ipairs(chain) do
        if locked(b) then
            named = b
            break
        end
    end
    if named then
        f.s, f.l = named[SPENT], named[LIMIT]
        emit(now, EV_OVERRUN, named[PATH], f)
    end
    for _, b in ipairs(chain) do
        check_levels(P, b, now)
    end
end

-- A refusal's event: the budget that refused, its spend and limit (after its window rolled).
local function report_denied(chain, now, refusal, cls, amount, tool, model)
    local f = {c = cls, r = refusal[1], a = amount, tl = tool ~= '' and tool or model}
    for _, b in ipairs(chain) do
        if b[PATH] == refusal[2] then
            f.s, f.l = b[SPENT], b[LIMIT]
        end
    end
    emit(now, EV_DENIED, refusal[2], f)
end

-- ---- idempotency ------------------------------------------------------------------------

-- A remembered answer packed: created, a1..a4, then op .. ':' .. args (op is one of the
-- four operation names, which hold no ':', so the text names op and args unambiguously).
local IDEM = '<lllll'
local IDEM_SIZE = 40

-- {found answer fields} or nil; a failure array on conflict. Keys older than the ttl are
-- forgotten here (Redis's own expiry runs on its clock, not on now_ms, so it only
-- collects what this check would forget anyway).

local function idem_lookup(P, key, op, args, now, ttl)
    if key == '' then
        return nil
    end
    local raw = redis.call('GET', P .. 'k:' .. key)
    if not raw then
        return nil
    end
    local created, a1, a2, a3, a4 = struct.unpack(IDEM, raw)
    if now - created >= ttl then
        redis.call('DEL', P .. 'k:' .. key)
        return nil
    end
    if string.sub(raw, IDEM_SIZE + 1) ~= op .. ':' .. args then
        return fail(ERR_CONFLICT, "idempotency key '" .. key ..
                        "' was used with other arguments or another operation")
    end
    return {0, 1, a1, a2, a3, a4}
end

-- Keys deleted at each remember, at most (the oldest first, those older than the ttl): more
-- than the one a remember adds, so the forgotten keys left in P.."keys" shrink whenever
-- there are any, and no call deletes a burst of a million at once.
local KEYS_FORGET_MAX = 2

local function idem_remember(P, key, op, args, now, ttl_ms, a1, a2, a3, a4)
    if key == '' then
        return
    end
    local old = redis.call('ZRANGEBYSCORE', P .. 'keys', '-inf', fmt(now - ttl_ms), 'LIMIT', 0,
                           KEYS_FORGET_MAX)
    for _, forgotten in ipairs(old) do
        redis.call('DEL', P .. 'k:' .. forgotten)
        redis.call('ZREM', P .. 'keys', forgotten)
    end
    redis.call('ZADD', P .. 'keys', fmt(now), key)
    -- The expiry is garbage collection in server time, with room for clocks apart: never
    -- before the check above would forget the key.
    redis.call('SET', P .. 'k:' .. key, struct.pack(IDEM, now, a1, a2, a3, a4) .. op .. ':' .. args,
               'PX', fmt(ttl_ms + 3600000))
end

-- ---- size bounds: holds_max, budgets_max, idempotency_max -------------------------------

--[[
The daemon's limits bound what clients can make a tree keep, as the local ledger's bound the
whole ledger (docs/multi-node.md, "Size bounds"). Each is counted in the tree's own keys, so
the check is one more read inside the deciding call, atomic with the decision on one server
and on a cluster alike (a ledger-wide count would be a key of another slot there), and exact
through every way a count changes, since what is counted is the thing itself:
  open holds   the root's HOLDS (every open hold of the tree), read after the tree's due
               holds expired, so a commit, release or expiry frees a place in the same call
  budgets      ZCARD P.."paths"
  keys         the keys of P.."keys" made within the ttl (ZCOUNT), the same keys a lookup
               still answers from: a forgotten key frees its place whether or not it is gone
A replayed call (its key found) answers before any check, so a retry never counts twice. A
limit not passed (nil: a daemon older than the bounds) is no bound. Refusals are the local
ledger's TG_ERR_FULL, checked where it checks (after the decision admits, before anything
changes), the windows already rolled saved first, as path_room's refusal.
]]

-- A limit passed as an argument, or nil when the caller passed none.
local function limit_of(args, at)
    return args[at] and tonumber(args[at]) or nil
end

-- The tree's root, from its prefix "tg:{ROOT}:", to name it in a refusal.
local function tree_name(P)
    return string.sub(P, 5, -3)
end

-- The refusal when the tree already holds `max` budgets.
local function budgets_full(P, max)
    if max and redis.call('ZCARD', P .. 'paths') >= max then
        return fail(ERR_FULL, 'the ledger holds its maximum of ' .. fmt(max) ..
                        " budgets (budget tree '" .. tree_name(P) .. "')")
    end
    return nil
end

-- The refusal when the tree already holds `max` open holds (chain: a path of it, expired).
local function holds_full(P, chain, max)
    if max and chain[#chain][HOLDS] >= max then
        chain_save(P, chain)
        return fail(ERR_FULL, 'the ledger holds its maximum of ' .. fmt(max) ..
                        " open holds (budget tree '" .. tree_name(P) .. "')")
    end
    return nil
end

-- The refusal when a new key `key` would pass the tree's `max` remembered keys at now.
local function keys_full(P, chain, key, now, ttl, max)
    if key == '' or not max then
        return nil
    end
    if redis.call('ZCOUNT', P .. 'keys', '(' .. fmt(now - ttl), '+inf') >= max then
        if chain then
            chain_save(P, chain)
        end
        return fail(ERR_FULL, 'the ledger remembers its maximum of ' .. fmt(max) ..
                        ' idempotency keys; retry later or raise idempotency_max (budget tree ' ..
                        "'" .. tree_name(P) .. "')")
    end
    return nil
end

-- ---- the operations ---------------------------------------------------------------------

local function num(x)
    return tonumber(x)
end

-- The window bounds among the arguments from args[from], read by window_set when needed.
local function bounds_of(args, from)
    return {args = args, from = from}
end

-- What reserve and record decide first: the path's chain (its expired holds released), rolled
-- to now, with room for amount more held and cost more spent. The chain, or nil and the
-- answer to give (no such budget, or path_room's refusal).
local function path_ready(P, path, now, bounds, amount, cost, tokens)
    local chain = chain_load_expired(P, path, now)
    if not chain then
        return nil, no_budget(path)
    end
    path_roll(P, chain, now, bounds)
    local refused = path_room(P, chain, amount, cost, tokens)
    if refused then
        return nil, refused
    end
    return chain
end

-- tg_reserve(P) now path amount tokens cls tool model expires key args idem_ttl bounds*8
--   holds_max keys_max
local function tg_reserve(keys, args)
    local P = keys[1]
    local now, path, amount, tokens, cls = num(args[1]), args[2], num(args[3]), num(args[4]),
        num(args[5])
    local tool, model, expires, key, key_args = args[6], args[7], num(args[8]), args[9], args[10]
    local idem_ttl, bounds = num(args[11]), bounds_of(args, 12)
    local first = idem_lookup(P, key, 'reserve', key_args, now, idem_ttl)
    if first then
        holds_expire(P, now)
        return first -- {0, replayed, seq, expires, cls, tree} or a conflict
    end
    local chain, answer = path_ready(P, path, now, bounds, amount, 0, tokens)
    if not chain then
        return answer
    end
    local refusal = path_admits(P, chain, amount, tokens, cls, now)
    if refusal then
        chain_save(P, chain) -- the windows it rolled
        report_denied(chain, now, refusal, cls, amount, tool, model)
        return {0, 0, 0, 0, cls, 0, refusal[1], refusal[2], refusal[3], refusal[4]}
    end
    local full = holds_full(P, chain, limit_of(args, 20)) or
                     keys_full(P, chain, key, now, idem_ttl, limit_of(args, 21))
    if full then
        return full
    end
    chain.ids.hold = chain.ids.hold + 1
    local seq = chain.ids.hold
    redis.call('SET', P .. 'h:' .. seq,
               hold_pack({amount = amount, tokens = tokens, cls = cls, created = now,
                          expires = expires, cancel = 0, budget = path, tool = tool,
                          model = model}))
    redis.call('ZADD', P .. 'holds', fmt(expires), fmt(seq))
    for _, b in ipairs(chain) do
        b[HELD] = b[HELD] + amount
        b[CH] = b[CH] + 1
        b[TH] = b[TH] + tokens
        b[HOLDS] = b[HOLDS] + 1
    end
    chain_save(P, chain)
    idem_remember(P, key, 'reserve', key_args, now, idem_ttl, seq, expires, cls, 1)
    return {0, 0, seq, expires, cls, 1}
end

-- tg_commit(P) now seq actual tokens_in tokens_out agent key args idem_ttl bounds*8
--   holds_max keys_max
local function tg_commit(keys, args)
    local P = keys[1]
    local now, seq, actual, tokens_in, tokens_out = num(args[1]), args[2], num(args[3]),
        num(args[4]), num(args[5])
    local agent, key, key_args, idem_ttl = args[6] == '1', args[7], args[8], num(args[9])
    local bounds = bounds_of(args, 10)
    holds_expire(P, now)
    local first = idem_lookup(P, key, 'commit', key_args, now, idem_ttl)
    if first then
        return first -- {0, replayed, charged, overrun, charge seq, capped}
    end
    local h = hold_load(P, seq)
    if not h then
        return no_hold(seq, true)
    end
    local chain = chain_load(P, h.budget)
    path_roll(P, chain, now, bounds)
    local refused = path_room(P, chain, 0, actual, tokens_in + tokens_out) or
                        keys_full(P, chain, key, now, idem_ttl, limit_of(args, 19))
    if refused then
        return refused
    end
    local capped = false
    if actual > h.amount and agent then
        for _, b in ipairs(chain) do
            capped = capped or b[CAP] == 1
        end
    end
    local cost = capped and h.amount or actual
    local overrun = actual > h.amount and actual - h.amount or 0
    hold_close(P, h, chain)
    local charge_seq = charge(P, chain, cost, capped and fmt(cost) or args[3],
                              tokens_in + tokens_out,
                              {'hold', h.seq, 'cls', fmt(h.cls), 'tool', h.tool, 'model', h.model,
                               'held', fmt(h.amount), 'tokens_in', args[4], 'tokens_out', args[5]},
                              args[1])
    report_charge(P, chain, now, actual > h.amount,
                  {c = h.cls, h = h.seq, a = actual, hd = h.amount,
                   tl = h.tool ~= '' and h.tool or h.model, d = capped and 'capped' or nil})
    chain_save(P, chain)
    local capped_flag = capped and 1 or 0
    idem_remember(P, key, 'commit', key_args, now, idem_ttl, cost, overrun, charge_seq, capped_flag)
    return {0, 0, cost, overrun, charge_seq, capped_flag}
end

-- tg_release(P) now seq key args idem_ttl holds_max keys_max
local function tg_release(keys, args)
    local P = keys[1]
    local now, seq, key, key_args, idem_ttl = num(args[1]), args[2], args[3], args[4], num(args[5])
    holds_expire(P, now)
    local first = idem_lookup(P, key, 'release', key_args, now, idem_ttl)
    if first then
        return first[1] == 0 and {0, 1} or first
    end
    local h = hold_load(P, seq)
    if not h then
        return no_hold(seq, true)
    end
    local full = keys_full(P, nil, key, now, idem_ttl, limit_of(args, 7))
    if full then
        return full
    end
    local chain = chain_load(P, h.budget)
    hold_close(P, h, chain)
    chain_save(P, chain)
    idem_remember(P, key, 'release', key_args, now, idem_ttl, 0, 0, 0, 0)
    return {0, 0}
end

-- tg_record(P) now path cost tokens_in tokens_out cls tool model force key args idem_ttl bounds*8
--   holds_max keys_max
local function tg_record(keys, args)
    local P = keys[1]
    local now, path, cost, tokens_in, tokens_out = num(args[1]), args[2], num(args[3]),
        num(args[4]), num(args[5])
    local cls, tool, model, force = num(args[6]), args[7], args[8], args[9] == '1'
    local key, key_args, idem_ttl, bounds = args[10], args[11], num(args[12]), bounds_of(args, 13)
    local first = idem_lookup(P, key, 'record', key_args, now, idem_ttl)
    if first then
        holds_expire(P, now)
        return first[1] == 0 and {0, 1, first[5]} or first -- the first answer's charge
    end
    local tokens = tokens_in + tokens_out
    local chain, answer = path_ready(P, path, now, bounds, 0, cost, tokens)
    if not chain then
        return answer
    end
    if not force then
        local refusal = path_admits(P, chain, cost, tokens, cls, now)
        if refusal then
            chain_save(P, chain)
            report_denied(chain, now, refusal, cls, cost, tool, model)
            return {0, 0, 0, refusal[1], refusal[2], refusal[3], refusal[4]}
        end
    end
    local full = keys_full(P, chain, key, now, idem_ttl, limit_of(args, 22))
    if full then
        return full
    end
    local charge_seq = charge(P, chain, cost, args[3], tokens,
                              {'hold', '0', 'cls', args[6], 'tool', tool, 'model', model, 'held',
                               '0', 'tokens_in', args[4], 'tokens_out', args[5]}, args[1])
    report_charge(P, chain, now, false,
                  {c = cls, a = cost, hd = 0, tl = tool ~= '' and tool or model})
    chain_save(P, chain)
    idem_remember(P, key, 'record', key_args, now, idem_ttl, cost, 0, charge_seq, 0)
    return {0, 0, charge_seq}
end

-- tg_hold_get(P) now seq (now < 0: no expiry first)
local function tg_hold_get(keys, args)
    local P = keys[1]
    local now, seq = num(args[1]), args[2]
    if now >= 0 then
        holds_expire(P, now)
    end
    local h = hold_load(P, seq)
    if not h then
        return no_hold(seq, false)
    end
    return {0, h.budget, h.amount, h.tokens, h.cls, h.tool, h.model, h.created, h.expires,
            h.cancel}
end

-- The alerts carried over a change of spec (budget.c's alerts_carry): an alert of the new
-- list counts as reported when one of the old list with the same fraction was, so a list
-- reordered or extended never reports a fraction twice in one window.
local function alerts_carry(old, fired, new)
    local carried = 0
    for j = 1, #new / 2 do
        for i = 1, old and #old / 2 or 0 do
            if bit.band(fired, bit.lshift(1, i - 1)) ~= 0 and old[2 * i] == new[2 * j] then
                carried = bit.bor(carried, bit.lshift(1, j - 1))
                break
            end
        end
    end
    return carried
end

-- One budget created (its parent must exist, the tree below budgets_max) or updated: `spec` its
-- text, `nums` its numbers LIMIT .. CAP by index, `alerts` {level, ppm, ...}, `bounds` the
-- window bounds (bounds_of). Answers {0, 1} when created, {0, 0} when updated, or a refusal.
-- The tree's due holds are expired by the caller.
local function budget_write(P, now, path, tree, spec, nums, alerts, bounds, budgets_max)
    local b = budget_load(P, path)
    local created = b == nil
    if not created then
        roll(P, b, now, bounds, nil)
        if redis.call('GET', P .. 'd:' .. path) == spec then
            budget_save(P, b)
            redis.call('ZADD', P .. 'paths', 0, path) -- a budget made before the index
            return {0, 0}
        end
    else
        local parents = chain_paths(path)
        local parent = nil
        if #parents > 1 then
            parent = budget_load(P, parents[2])
            if not parent then
                return fail(ERR_NOT_FOUND, "the parent of budget '" .. path ..
                                "' does not exist; create it first")
            end
        end
        local full = budgets_full(P, budgets_max)
        if full then
            return full
        end
        if parent then
            parent[CHILDREN] = parent[CHILDREN] + 1
            budget_save(P, parent)
        else
            redis.call('HSETNX', P .. 'meta', 'tree', fmt(tree))
        end
        -- every number 0 (LIMIT .. CAP are set below); no packed value yet; no alerts
        b = {path, false, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
             false}
    end
    b[FIRED] = created and 0 or alerts_carry(b[ALERTS], b[FIRED], alerts)
    b[ALERTS] = #alerts > 0 and alerts
    local window_changed = created or b[WINDOW] ~= nums[WINDOW]
    for i = LIMIT, CAP do -- limit, calls, tokens, window, thr, c0..c3, cap
        b[i] = nums[i]
    end
    if window_changed then
        window_set(b, bounds)
    end
    redis.call('SET', P .. 'd:' .. path, spec)
    emit(now, EV_BUDGET_CHANGED, path, {d = created and 'created' or 'updated'})
    check_levels(P, b, now)
    budget_save(P, b)
    redis.call('ZADD', P .. 'paths', 0, path)
    return {0, created and 1 or 0}
end

-- tg_budget_put(P) now path tree spec limit calls tokens window thr c0 c1 c2 c3 cap bounds*8
--   alerts (level ppm)*alerts budgets_max
local function tg_budget_put(keys, args)
    local P = keys[1]
    local now = num(args[1])
    holds_expire(P, now)
    local nums, alerts = {}, {}
    for i = LIMIT, CAP do -- args[5 .. 14]
        nums[i] = num(args[i + 2])
    end
    for i = 1, 2 * num(args[23]) do
        alerts[i] = num(args[23 + i])
    end
    return budget_write(P, now, args[2], num(args[3]), args[4], nums, alerts,
                        bounds_of(args, 15), limit_of(args, 24 + 2 * num(args[23])))
end

-- tg_budget_get(P) now path bounds*8
local function tg_budget_get(keys, args)
    local P = keys[1]
    local now, path = num(args[1]), args[2]
    holds_expire(P, now)
    local chain = chain_load(P, path)
    if not chain then
        return no_budget(path)
    end
    path_roll(P, chain, now, bounds_of(args, 3))
    chain_save(P, chain)
    local b = chain[1]
    local out = {0, redis.call('GET', P .. 'd:' .. path), b[FROZEN], b[WS], b[WE], b[SPENT],
                 b[HELD], b[CU], b[CH], b[TU], b[TH], b[THR], b[C0], b[C1], b[C2], b[C3]}
    for c = 0, 3 do
        out[#out + 1] = headroom(chain, c, 0)
    end
    out[#out + 1] = b[REVOKED]
    out[#out + 1] = locked(b) and 1 or 0
    out[#out + 1] = b[CHILDREN]
    return out
end

-- Deletes a budget without children or open holds (the tree's due holds expired by the caller).
local function budget_remove(P, now, path)
    local b = budget_load(P, path)
    if not b then
        return no_budget(path)
    end
    if b[CHILDREN] > 0 or b[HOLDS] > 0 then
        return fail(ERR_STATE, "budget '" .. path .. "' has " .. fmt(b[CHILDREN]) ..
                        ' children and ' .. fmt(b[HOLDS]) .. ' open holds')
    end
    emit(now, EV_BUDGET_CHANGED, path, {d = 'deleted'})
    local parents = chain_paths(path)
    if #parents > 1 then
        local parent = budget_load(P, parents[2])
        parent[CHILDREN] = parent[CHILDREN] - 1
        budget_save(P, parent)
    end
    redis.call('DEL', P .. 'b:' .. path, P .. 'd:' .. path)
    redis.call('ZREM', P .. 'paths', path)
    return {0}
end

-- tg_budget_delete(P) now path
local function tg_budget_delete(keys, args)
    local P = keys[1]
    local now = num(args[1])
    holds_expire(P, now)
    return budget_remove(P, now, args[2])
end

-- ---- many budgets of one tree as one change (tg_budgets_apply) --------------------------

--[[
A bulk change (PUT or PATCH /v1/budgets with many budgets) as src/core/budget_bulk.c makes it
on the local ledger: every operation is checked against the tree as the earlier operations of
the request leave it, before any is applied; then all are applied in order, each as one
tg_budget_put or tg_budget_delete, and none can fail, so the tree changes by the whole request
or not at all. One tree is one hash slot, so this one call is atomic on a cluster too. The
caller (redis_budgets.c) checked each operation alone (path, spec) and that no path is named
twice, and passes at most TG__REDIS_BUDGET_OPS_MAX operations packed in one argument, each:
'<l' kind (0 delete, 1 put), 's' path, and for a put: 's' spec text, 10 '<l' numbers
(LIMIT .. CAP), '<l' alert count, then that many (level, ppm) pairs of '<l'.
]]

local OP_DELETE = 0

local function bulk_read(blob, count)
    local ops, at = {}, 1
    for i = 1, count do
        local kind, path
        kind, path, at = struct.unpack('<ls', blob, at)
        local op = {remove = kind == OP_DELETE, path = path}
        if not op.remove then
            local values = {struct.unpack('<s' .. string.rep('l', 11), blob, at)}
            op.spec, at = values[1], values[13]
            op.nums = {}
            for j = LIMIT, CAP do
                op.nums[j] = values[j - LIMIT + 2]
            end
            local n = values[12]
            op.alerts = {}
            if n > 0 then
                local levels = {struct.unpack('<' .. string.rep('l', 2 * n), blob, at)}
                at = levels[2 * n + 1]
                levels[2 * n + 1] = nil
                op.alerts = levels
            end
        end
        ops[i] = op
    end
    return ops
end

local function parent_of(path)
    local cut = string.find(path, '/[^/]*$')
    return cut and string.sub(path, 1, cut - 1) or nil
end

-- A put's parent: in the tree and not deleted here, or created by an earlier operation.
local function bulk_check_parent(P, ops, index, i)
    local path = ops[i].path
    local parent = parent_of(path)
    if not parent then
        return nil
    end
    local named = index[parent]
    if named and ops[named].remove then
        return fail(ERR_STATE, "budget '" .. path .. "' is put under '" .. parent ..
                        "', which is deleted")
    end
    if redis.call('EXISTS', P .. 'b:' .. parent) == 1 or (named and named < i) then
        return nil
    end
    return fail(ERR_NOT_FOUND, "the parent of budget '" .. path .. (named and
                    "' is created after it; list parents first" or
                    "' does not exist; create it first"))
end

-- A delete: the budget exists, has no open hold, and every child is deleted before it.
local function bulk_check_delete(b, path, children_deleted)
    if not b then
        return no_budget(path)
    end
    if b[HOLDS] > 0 then
        return fail(ERR_STATE, "budget '" .. path .. "' has " .. fmt(b[HOLDS]) .. ' open holds')
    end
    if b[CHILDREN] > children_deleted then
        return fail(ERR_STATE, "budget '" .. path .. "' has " ..
                        fmt(b[CHILDREN] - children_deleted) ..
                        ' children not deleted before it in this request')
    end
    return nil
end

-- Every operation checked before any is applied; nil, or the first refusal, naming its index.
local function bulk_check(P, ops, budgets_max)
    local index, children_deleted = {}, {}
    for i, op in ipairs(ops) do
        index[op.path] = i
    end
    for i, op in ipairs(ops) do
        local parent = op.remove and parent_of(op.path)
        local named = parent and index[parent]
        if named and named > i and ops[named].remove then
            children_deleted[named] = (children_deleted[named] or 0) + 1
        end
    end
    local live = redis.call('ZCARD', P .. 'paths')
    for i, op in ipairs(ops) do
        local b = budget_load(P, op.path)
        local refused = nil
        if op.remove then
            refused = bulk_check_delete(b, op.path, children_deleted[i] or 0)
            live = live - 1
        elseif not b then
            refused = bulk_check_parent(P, ops, index, i)
            live = live + 1
        end
        if refused then
            return fail(refused[1], 'operation ' .. fmt(i - 1) .. ': ' .. refused[2])
        end
        if budgets_max and live > budgets_max then
            return fail(ERR_FULL, 'operation ' .. fmt(i - 1) ..
                            ': the ledger holds its maximum of ' .. fmt(budgets_max) ..
                            " budgets (budget tree '" .. tree_name(P) .. "')")
        end
    end
    return nil
end

-- tg_budgets_apply(P) now tree budgets_max count ops bounds*8: {0, created, updated, deleted}
local function tg_budgets_apply(keys, args)
    local P = keys[1]
    local now, tree, count = num(args[1]), num(args[2]), num(args[4])
    local budgets_max = limit_of(args, 3)
    local bounds = bounds_of(args, 6)
    local ops = bulk_read(args[5], count)
    holds_expire(P, now) -- as a single put or delete would see the holds
    local refused = bulk_check(P, ops, budgets_max)
    if refused then
        return refused
    end
    local created, updated, deleted = 0, 0, 0
    for i, op in ipairs(ops) do
        local out
        if op.remove then
            out = budget_remove(P, now, op.path)
            deleted = deleted + 1
        else
            out = budget_write(P, now, op.path, tree, op.spec, op.nums, op.alerts, bounds,
                               budgets_max)
        end
        -- Checked above: a failure here would break the promise that a request applies
        -- whole, so it is a bug, and the error says so loudly.
        if out[1] ~= 0 then
            error('tg_budgets_apply: operation ' .. fmt(i - 1) .. ' failed after its check: ' ..
                      tostring(out[2]))
        end
        if not op.remove then
            created, updated = created + out[2], updated + 1 - out[2]
        end
    end
    return {0, created, updated, deleted}
end

-- tg_budget_freeze(P) now path frozen
local function tg_budget_freeze(keys, args)
    local P = keys[1]
    local now, path, frozen = num(args[1]), args[2], num(args[3])
    local b = budget_load(P, path)
    if not b then
        return no_budget(path)
    end
    if b[FROZEN] ~= frozen then
        b[FROZEN] = frozen
        budget_save(P, b)
        emit(now, EV_BUDGET_CHANGED, path, {d = frozen == 1 and 'frozen' or 'unfrozen'})
    end
    return {0}
end

-- tg_tree(registry) root: the root's number, made on first use. A root is rare (an admin
-- creates it), so this is its own call in its own slot ({roots}), not part of an operation.
local function tg_tree(keys, args)
    local registry, root = keys[1], args[1]
    -- The roots in byte order, for listing ("tg:{roots}:names", the registry's slot).
    redis.call('ZADD', registry .. ':names', 0, root)
    local n = redis.call('HGET', registry, 'name:' .. root)
    if n then
        return {0, tonumber(n)}
    end
    n = redis.call('HINCRBY', registry, 'next', 1)
    redis.call('HSET', registry, 'name:' .. root, fmt(n), 'tree:' .. fmt(n), root)
    return {0, n}
end

-- tg_tree_root(registry) number: the root a tree number belongs to.
local function tg_tree_root(keys, args)
    local root = redis.call('HGET', keys[1], 'tree:' .. args[1])
    if not root then
        return fail(ERR_NOT_FOUND, 'no budget tree ' .. args[1])
    end
    return {0, root}
end

-- ---- reading the charges (GET /v1/charges, `tollgate report`) ---------------------------

-- Whether `path` is `budget` or under it ("" matches every path).
local function in_subtree(path, budget)
    return budget == '' or path == budget or string.sub(path, 1, #budget + 1) == budget .. '/'
end

-- tg_charges(P) after limit since until budget model: the tree's charges after sequence
-- `after` with since <= time < until, charged to `budget` or its subtree, for `model` (""
-- any), at most `limit` of them,
-- looking at CHARGES_SCAN_MAX entries at most. Answers {0, last, done, rows...}: `last` the
-- last sequence looked at (the next call's `after`), `done` 1 when nothing follows it, then
-- 11 fields a row: seq, time, budget, hold, cls, tool, model, tokens_in, tokens_out, cost,
-- held (a field left out of the entry is "" or "0", as charge() wrote it).
local function tg_charges(keys, args)
    local P = keys[1]
    local after, limit = tonumber(args[1]), tonumber(args[2])
    local since, till, budget, model = tonumber(args[3]), tonumber(args[4]), args[5], args[6]
    local entries = redis.call('XRANGE', P .. 'spend', fmt(after + 1), '+', 'COUNT',
                               CHARGES_SCAN_MAX)
    local out = {0, fmt(after), #entries < CHARGES_SCAN_MAX and 1 or 0}
    local rows = 0
    for i, entry in ipairs(entries) do
        local f, kv = {}, entry[2]
        for j = 1, #kv, 2 do
            f[kv[j]] = kv[j + 1]
        end
        out[2] = f.seq
        local time = tonumber(f.time)
        if time >= since and time < till and in_subtree(f.budget, budget) and
            (model == '' or f.model == model) then
            local n = #out
            out[n + 1], out[n + 2], out[n + 3], out[n + 4] = f.seq, f.time, f.budget, f.hold or '0'
            out[n + 5], out[n + 6], out[n + 7] = f.cls or '0', f.tool or '', f.model or ''
            out[n + 8], out[n + 9] = f.tokens_in or '0', f.tokens_out or '0'
            out[n + 10], out[n + 11] = f.cost, f.held or '0'
            rows = rows + 1
            if rows == limit then
                if i < #entries then
                    out[3] = 0
                end
                break
            end
        end
    end
    return out
end

-- ---- reading the events (events_since: GET /v1/events, the SSE stream) -------------------

-- The defaults of an event's optional fields, as tollgate.h's "not set".
local EVENT_DEFAULTS = {c = '-1', r = '-1', h = '0', a = '-1', hd = '-1', s = '-1', l = '-1',
                        th = '-1', n = '-1', tl = '', d = ''}

-- The tree's stream entries after sequence args[1], at most args[2] (and EVENTS_SCAN_MAX),
-- as XRANGE gives them: what tg_events and tg_events_pack read.
local function events_after(keys, args)
    local after, limit = tonumber(args[1]), tonumber(args[2])
    if limit > EVENTS_SCAN_MAX then
        limit = EVENTS_SCAN_MAX
    end
    return redis.call('XRANGE', keys[1] .. 'events', fmt(after + 1), '+', 'COUNT', limit)
end

-- tg_events(P) after limit: the tree's events after sequence `after`, at most `limit` (and
-- EVENTS_SCAN_MAX). Answers {0, rows...}, 14 fields a row: seq, kind, time, budget, then
-- EVENT_FIELDS' values (a field left out of the entry as its default).
local function tg_events(keys, args)
    local entries = events_after(keys, args)
    local out = {0}
    for _, entry in ipairs(entries) do
        local f, kv = {}, entry[2]
        for j = 1, #kv, 2 do
            f[kv[j]] = kv[j + 1]
        end
        local n = #out
        out[n + 1] = string.sub(entry[1], 1, -3) -- "SEQ-0"
        out[n + 2], out[n + 3], out[n + 4] = f.k, f.t, f.b
        for i, name in ipairs(EVENT_FIELDS) do
            out[n + 4 + i] = f[name] or EVENT_DEFAULTS[name]
        end
    end
    return out
end

-- tg_events_last(P): the tree's last event number (0: none yet), where a reader that wants
-- only what comes next starts.
local function tg_events_last(keys, args)
    return {0, tonumber(redis.call('GET', keys[1] .. 'evseq') or '0')}
end

-- ---- the ledger-wide events: the collector (events_since, GET /v1/events, the SSE stream) --

--[[
Each tree's events are in order in its own stream, the trees in no order among themselves,
and a reader's cursor (GET /v1/events' `since`, SSE's Last-Event-ID) is one number. So the
daemons copy each tree's new events into one ledger-wide stream in the registry's slot, whose
own sequence is that cursor (docs/multi-node.md, "Events"). A tree's stream and the registry
may be on two masters of a cluster, so a copy is two calls: tg_events_pack reads a batch in
the tree's slot, tg_collect appends it in the registry's slot if, and only if, the tree's
copied position there is still the one the batch was read after, and advances it in the same
atomic call. Two daemons copying one tree at once: the second finds the position moved and
appends nothing; a daemon killed between the calls has appended nothing.
  R..":events"  stream the ledger's events, ids "SEQ-0" (R..":evseq" the last SEQ): the tree
                       entry's fields, plus 'tr' (the tree's number) and 'q' (its sequence
                       in the tree), at most about LEDGER_EVENTS_KEEP entries
  R..":evseq"   string the ledger-wide stream's last number
  R..":copied"  hash   tree number -> the last of its events copied (absent: none)
]]
local LEDGER_EVENTS_KEEP_TEXT = '1000000'

-- tg_events_pack(P) after limit: the tree's stream entries after sequence `after`, at most
-- `limit` (and EVENTS_SCAN_MAX), as XRANGE gives them, packed with cmsgpack for tg_collect:
-- {0, count, packed} ("" when none).
local function tg_events_pack(keys, args)
    local entries = events_after(keys, args)
    if #entries == 0 then
        return {0, 0, ''}
    end
    return {0, #entries, cmsgpack.pack(entries)}
end

-- tg_collect(R) tree after packed: appends tg_events_pack's entries of tree `tree` to the
-- ledger-wide stream when the tree's copied position is `after`, and makes it the last
-- entry's sequence. Answers {0, position, appended}: the position now (the caller's next
-- `after`) and how many were appended (0 when another caller had copied them first).
local function tg_collect(keys, args)
    local R, tree, after = keys[1], args[1], tonumber(args[2])
    local copied = tonumber(redis.call('HGET', R .. ':copied', tree) or '0')
    if copied ~= after then
        return {0, copied, 0}
    end
    local entries = cmsgpack.unpack(args[3])
    local n = #entries
    local seqs = {}
    for i, entry in ipairs(entries) do
        seqs[i] = tonumber(string.sub(entry[1], 1, -3)) -- "SEQ-0"
        if seqs[i] == nil or seqs[i] <= (seqs[i - 1] or copied) then
            return fail(ERR_INVALID, 'tg_collect: entries out of order after ' .. fmt(copied))
        end
    end
    if n == 0 then
        return {0, copied, 0}
    end
    local last = redis.call('INCRBY', R .. ':evseq', n)
    for i, entry in ipairs(entries) do
        redis.call('XADD', R .. ':events', 'MAXLEN', '~', LEDGER_EVENTS_KEEP_TEXT,
                   fmt(last - n + i) .. '-0', 'tr', tree, 'q', fmt(seqs[i]), unpack(entry[2]))
    end
    redis.call('HSET', R .. ':copied', tree, fmt(seqs[n]))
    return {0, seqs[n], n}
end

-- tg_copied(R) tree...: each tree's copied position (0: none copied yet).
local function tg_copied(keys, args)
    local got = redis.call('HMGET', keys[1] .. ':copied', unpack(args))
    local out = {0}
    for i = 1, #args do
        out[i + 1] = tonumber(got[i] or '0')
    end
    return out
end

-- Appends one ledger-wide stream entry to `out` as a row of 16 fields: number, tree, kind,
-- time, budget, then EVENT_FIELDS' values.
local function ledger_row(out, entry)
    local f, kv = {}, entry[2]
    for j = 1, #kv, 2 do
        f[kv[j]] = kv[j + 1]
    end
    local n = #out
    out[n + 1] = string.sub(entry[1], 1, -3)
    out[n + 2], out[n + 3], out[n + 4], out[n + 5] = f.tr, f.k, f.t, f.b
    for i, name in ipairs(EVENT_FIELDS) do
        out[n + 5 + i] = f[name] or EVENT_DEFAULTS[name]
    end
end

-- tg_ledger_events(R) after limit: the ledger-wide events after number `after`, at most
-- `limit` (and EVENTS_SCAN_MAX). Answers {0, last, rows...}: `last` the stream's last number
-- now, then 16 fields a row: number, tree, kind, time, budget, then EVENT_FIELDS' values.
local function tg_ledger_events(keys, args)
    local after, limit = tonumber(args[1]), tonumber(args[2])
    if limit > EVENTS_SCAN_MAX then
        limit = EVENTS_SCAN_MAX
    end
    local R = keys[1]
    local entries = redis.call('XRANGE', R .. ':events', fmt(after + 1), '+', 'COUNT', limit)
    local out = {0, tonumber(redis.call('GET', R .. ':evseq') or '0')}
    for _, entry in ipairs(entries) do
        ledger_row(out, entry)
    end
    return out
end

--[[ Notifications (docs/notifications.md, "On Redis"). Each sink is a consumer group on the
ledger-wide stream, named "notify:SINK"; each daemon reads as a consumer of its own, so an
entry goes to one daemon, stays in the group's pending list until that daemon acknowledges
it (delivered, filtered out or given up), and is claimed by another daemon once it has been
idle past the claim time (the daemon that read it died, or lost Redis).
  R..":notify:dead"  stream  deliveries given up: s sink, e event id, a attempts, x error,
                             f time (ms), and the event's b budget, k kind, t time as the
                             ledger-wide stream had them ("" when it had trimmed the event);
                             one entry per (sink, event), at most NOTIFY_DEAD_KEEP (exact:
                             the oldest goes when a new one comes)
  R..":notify:dead:order"  zset  the same entries for paging: score the event id, member
                             "SINK\nBUDGET ENTRY-ID" ((event id, sink) order, as on SQLite)
]]
local NOTIFY_DEAD_KEEP = 10000  -- docs/notifications.md "On Redis"; redis_dead.h says it too
local NOTIFY_DEAD_PAGE_MAX = 1001 -- rows one tg_notify_dead answers (an API page, one more)
local NOTIFY_DEAD_LOOK = 256       -- index members one tg_notify_dead looks at (redis_dead.h)
local NOTIFY_READ_MAX = 1000 -- entries one tg_notify_read answers, new and claimed together

-- Runs `command` on the group, creating the group at the stream's end first when it is
-- missing (a sink seen for the first time, or a server restarted without its data).
local function with_group(stream, group, ...)
    local got = redis.pcall(...)
    if type(got) == 'table' and got.err and string.find(got.err, 'NOGROUP', 1, true) then
        redis.call('XGROUP', 'CREATE', stream, group, '$', 'MKSTREAM')
        return redis.call(...)
    end
    if type(got) == 'table' and got.err then
        error(got) -- the server's error, as the caller's answer
    end
    return got
end

-- tg_notify_read(R) group consumer from count claim_idle_ms refresh_idle_ms refresh tidy_ms:
-- for one daemon (`consumer`) of a sink's group, in one call:
--   1. refreshes its entries listed in `refresh` ("ID,ID,...": it still holds them, in
--      flight or waiting) that have been idle refresh_idle_ms, so no other daemon claims
--      them while this one is alive and still working on them;
--   2. when claim_idle_ms > 0, claims up to `count` entries of any consumer idle that long
--      (XAUTOCLAIM: the daemon holding them died or lost Redis);
--   3. reads up to `count` more: its own pending entries when `from` is "0" (after a
--      restart of its notifier), else entries never delivered to anyone (">");
--   4. when tidy_ms > 0, deletes consumers with nothing pending, idle that long.
-- Answers {0, claimed, rows...}: as tg_ledger_events' rows, the claimed ones first.
local function tg_notify_read(keys, args)
    local R = keys[1]
    local stream = R .. ':events'
    local group, consumer, from = args[1], args[2], args[3]
    local count, claim_idle = tonumber(args[4]), tonumber(args[5])
    local refresh_idle, tidy = tonumber(args[6]), tonumber(args[8])
    if count > NOTIFY_READ_MAX then
        count = NOTIFY_READ_MAX
    end
    local refresh = {}
    for id in string.gmatch(args[7], '%d+') do
        refresh[#refresh + 1] = id .. '-0'
    end
    if #refresh > 0 then -- only those idle that long are claimed again (their idle time reset)
        local claim = {'XCLAIM', stream, group, consumer, fmt(refresh_idle)}
        for _, id in ipairs(refresh) do
            claim[#claim + 1] = id
        end
        claim[#claim + 1] = 'JUSTID'
        with_group(stream, group, unpack(claim))
    end
    local out, claimed = {0, 0}, 0
    if claim_idle > 0 then
        local got = with_group(stream, group, 'XAUTOCLAIM', stream, group, consumer, claim_idle,
                               '0-0', 'COUNT', count)
        for _, entry in ipairs(got[2]) do
            if entry[2] then -- a trimmed entry comes back without fields: nothing to send
                ledger_row(out, entry)
                claimed = claimed + 1
            end
        end
        if #got[3] > 0 then -- trimmed while pending: nobody can send them any more
            redis.call('XACK', stream, group, unpack(got[3]))
        end
    end
    out[2] = claimed
    if count - claimed > 0 then
        local got = with_group(stream, group, 'XREADGROUP', 'GROUP', group, consumer, 'COUNT',
                               count - claimed, 'STREAMS', stream, from)
        if got and got[1] then
            for _, entry in ipairs(got[1][2]) do
                if entry[2] then
                    ledger_row(out, entry)
                end
            end
        end
    end
    if tidy > 0 then
        for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', stream, group)) do
            local f = {}
            for j = 1, #c, 2 do
                f[c[j]] = c[j + 1]
            end
            if f.pending == 0 and f.idle >= tidy and f.name ~= consumer then
                redis.call('XGROUP', 'DELCONSUMER', stream, group, f.name)
            end
        end
    end
    return out
end

-- tg_notify_groups(R) group...: creates each sink's group that does not exist yet, at the
-- stream's end: a sink delivers what is copied into the stream from its first start on.
-- Answers {0, created}.
local function tg_notify_groups(keys, args)
    local created = 0
    for _, group in ipairs(args) do
        local got = redis.pcall('XGROUP', 'CREATE', keys[1] .. ':events', group, '$', 'MKSTREAM')
        if type(got) == 'table' and got.err then
            if not string.find(got.err, 'BUSYGROUP', 1, true) then
                error(got)
            end
        else
            created = created + 1
        end
    end
    return {0, created}
end

-- A stream entry's field list as a table.
local function fields_of(kv)
    local f = {}
    for j = 1, #kv, 2 do
        f[kv[j]] = kv[j + 1]
    end
    return f
end

-- A dead letter's member in R..":notify:dead:order": "SINK\nBUDGET ENTRY-ID". The sink first,
-- so an event's entries (one score) sort by sink, as on SQLite; the budget, so a scoped page
-- filters without reading entries it does not list. Neither a sink name nor a budget path
-- holds a newline.
local function dead_member(sink, budget, id)
    return sink .. '\n' .. budget .. ' ' .. id
end

local function dead_parse(member)
    return string.match(member, '^([^\n]*)\n(.*) (%d+%-%d+)$')
end

-- Records one given-up delivery: one per (sink, event), as SQLite's notify_dead (two
-- daemons may both give one up when an acknowledgement was lost), the oldest dropped past
-- NOTIFY_DEAD_KEEP, and the event's budget, kind and time copied from the ledger-wide
-- stream, which trims on its own (an agent key's listing is scoped by that budget).
local function dead_record(R, sink, event, attempts, err, now)
    local dead, order = R .. ':notify:dead', R .. ':notify:dead:order'
    for _, member in ipairs(redis.call('ZRANGE', order, event, event, 'BYSCORE')) do
        local s, _, id = dead_parse(member)
        if s == sink then
            redis.call('XDEL', dead, id)
            redis.call('ZREM', order, member)
        end
    end
    local over = redis.call('XLEN', dead) - NOTIFY_DEAD_KEEP + 1
    if over > 0 then
        for _, entry in ipairs(redis.call('XRANGE', dead, '-', '+', 'COUNT', over)) do
            local f = fields_of(entry[2])
            redis.call('XDEL', dead, entry[1])
            redis.call('ZREM', order, dead_member(f.s or '', f.b or '', entry[1]))
        end
    end
    local b, k, t = '', '0', '0'
    local got = redis.call('XRANGE', R .. ':events', event .. '-0', event .. '-0')[1]
    if got and got[2] then
        local f = fields_of(got[2])
        b, k, t = f.b or '', f.k or '0', f.t or '0'
    end
    -- MAXLEN only as a guard: the entries past the bound went above, with their members.
    local id = redis.call('XADD', dead, 'MAXLEN', NOTIFY_DEAD_KEEP, '*', 's', sink, 'e', event,
                          'a', attempts, 'x', err, 'f', now, 'b', b, 'k', k, 't', t)
    redis.call('ZADD', order, tonumber(event), dead_member(sink, b, id))
end

-- tg_notify_ack(R) group ids [sink event attempts error now]: acknowledges the entries
-- "ID,ID,..." of the sink's group (delivered, not wanted by the sink's filter, or given up)
-- and, with the last five arguments, records one given-up delivery. Answers {0, acked}.
local function tg_notify_ack(keys, args)
    local R = keys[1]
    local ids = {}
    for id in string.gmatch(args[2], '%d+') do
        ids[#ids + 1] = id .. '-0'
    end
    local acked = 0
    if #ids > 0 then
        acked = redis.call('XACK', R .. ':events', args[1], unpack(ids))
    end
    if args[3] then
        dead_record(R, args[3], args[4], args[5], args[6], args[7])
    end
    return {0, acked}
end

-- Appends dead letter `member` (of score `event`) to `out` as a row when its budget is
-- `scope` or under it. Answers 1 when it did, else 0.
local function dead_row(R, out, member, scope)
    local sink, b, id = dead_parse(member)
    if not id or not (scope == '' or b == scope or string.sub(b, 1, #scope + 1) == scope .. '/') then
        return 0
    end
    local entry = redis.call('XRANGE', R .. ':notify:dead', id, id)[1]
    if not entry then
        return 0
    end
    local f = fields_of(entry[2])
    local n = #out
    out[n + 1], out[n + 2] = sink, f.e
    out[n + 3], out[n + 4] = b ~= '' and 1 or 0, f.k or '0'
    out[n + 5], out[n + 6] = b, f.t or '0'
    out[n + 7], out[n + 8], out[n + 9] = f.f, f.a, f.x or ''
    return 1
end

-- tg_notify_dead(R) after limit scope: the dead letters of events numbered above `after`
-- whose budget is `scope` or under it ("" for all, those with an unknown budget included),
-- in (event id, sink) order, at most `limit`; looks at NOTIFY_DEAD_LOOK members at most
-- and then the rest of the last event's, so no call holds the server long. Answers
-- {0, through, more, rows...}: every event up to `through` was looked at; `more` is 1 when
-- events above it may be left (call again after `through`); then 9 fields a row: sink, event
-- id, has the event (1 or 0), kind (number), budget, event time, given up at, attempts, last
-- error.
local function tg_notify_dead(keys, args)
    local R = keys[1]
    local order = R .. ':notify:dead:order'
    local after, limit, scope = tonumber(args[1]), tonumber(args[2]), args[3]
    if limit > NOTIFY_DEAD_PAGE_MAX then
        limit = NOTIFY_DEAD_PAGE_MAX
    end
    local got = redis.call('ZRANGE', order, '(' .. fmt(after), '+inf', 'BYSCORE', 'LIMIT', 0,
                           NOTIFY_DEAD_LOOK, 'WITHSCORES')
    local looked = #got / 2
    if looked == 0 then
        return {0, after, 0}
    end
    local out, rows = {0, 0, looked == NOTIFY_DEAD_LOOK and 1 or 0}, 0
    local last = got[#got]
    for i = 1, #got, 2 do
        if rows >= limit then
            return out
        end
        if got[i + 1] ~= last then -- the last event's members come whole, below
            rows = rows + dead_row(R, out, got[i], scope)
        end
    end
    for _, member in ipairs(redis.call('ZRANGE', order, last, last, 'BYSCORE')) do
        if rows >= limit then
            return out
        end
        rows = rows + dead_row(R, out, member, scope)
    end
    out[2] = tonumber(last)
    return out
end

-- ---- listing budgets (GET /v1/budgets on Redis) -----------------------------------------

-- Members of the sorted set `key` from the lexicographic bound `start` ("[x" from x on,
-- "(x" after x) that begin with `prefix`, at most `limit`: {0, member...}.
local function members_from(key, start, prefix, limit)
    local got = redis.call('ZRANGE', key, start, '+', 'BYLEX', 'LIMIT', 0, limit)
    local out = {0}
    for _, member in ipairs(got) do
        if string.sub(member, 1, #prefix) ~= prefix then
            break
        end
        out[#out + 1] = member
    end
    return out
end

-- tg_paths(P) start prefix limit: the tree's budget paths from `start` (a ZRANGE BYLEX
-- bound the caller computes) that begin with `prefix`, at most `limit`.
local function tg_paths(keys, args)
    return members_from(keys[1] .. 'paths', args[1], args[2], tonumber(args[3]))
end

-- tg_roots(registry) start prefix limit: root names likewise, from tg_tree's index.
local function tg_roots(keys, args)
    return members_from(keys[1] .. ':names', args[1], args[2], tonumber(args[3]))
end

-- tg_trees(registry): how many trees were ever numbered (1..n; a tree's number is kept
-- after its root is deleted). One call, so a read across trees replays the same calls.
local function tg_trees(keys, args)
    return {0, tonumber(redis.call('HGET', keys[1], 'next') or '0')}
end

redis.register_function{function_name = 'tg_charges', callback = tg_charges,
                        flags = {'no-writes'}}
redis.register_function{function_name = 'tg_paths', callback = tg_paths, flags = {'no-writes'}}
redis.register_function{function_name = 'tg_roots', callback = tg_roots, flags = {'no-writes'}}
redis.register_function{function_name = 'tg_trees', callback = tg_trees, flags = {'no-writes'}}
redis.register_function{function_name = 'tg_events', callback = tg_events,
                        flags = {'no-writes'}}
redis.register_function{function_name = 'tg_events_last', callback = tg_events_last,
                        flags = {'no-writes'}}
redis.register_function{function_name = 'tg_events_pack', callback = tg_events_pack,
                        flags = {'no-writes'}}
redis.register_function{function_name = 'tg_copied', callback = tg_copied, flags = {'no-writes'}}
redis.register_function{function_name = 'tg_ledger_events', callback = tg_ledger_events,
                        flags = {'no-writes'}}
redis.register_function('tg_collect', tg_collect)
redis.register_function('tg_notify_read', tg_notify_read)
redis.register_function('tg_notify_ack', tg_notify_ack)
redis.register_function('tg_notify_groups', tg_notify_groups)
redis.register_function{function_name = 'tg_notify_dead', callback = tg_notify_dead,
                        flags = {'no-writes'}}
redis.register_function('tg_reserve', emitting(tg_reserve))
redis.register_function('tg_commit', emitting(tg_commit))
redis.register_function('tg_release', emitting(tg_release))
redis.register_function('tg_record', emitting(tg_record))
redis.register_function('tg_hold_get', emitting(tg_hold_get))
redis.register_function('tg_budget_put', emitting(tg_budget_put))
redis.register_function('tg_budget_get', emitting(tg_budget_get))
redis.register_function('tg_budget_delete', emitting(tg_budget_delete))
redis.register_function('tg_budgets_apply', emitting(tg_budgets_apply))
redis.register_function('tg_budget_freeze', emitting(tg_budget_freeze))
redis.register_function('tg_tree', tg_tree)
redis.register_function('tg_tree_root', tg_tree_root)
