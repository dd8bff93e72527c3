#!lua name=tollgate
--[[
tollgate.lua: the ledger's decisions as one Redis function library (Redis >= 7,
FUNCTION LOAD; no modules). Each tg_* function below is one atomic ledger
operation on one budget tree: Redis runs a function to the end before any
other command, so reserve, commit, release and record see and change the whole
path at once, on every node that calls them.

The rules are those of src/core/decide.c and budget.c (docs/ledger.md); the
differential test tests/unit/test_redis_ledger.c drives both with the same
random operations and requires identical answers and budget states.

Keys. Every key of a tree starts with P = "tg:{ROOT}:" (the caller passes P),
so one tree lives in one hash slot of a Redis Cluster (the hash tag is the
root's name). Functions reach the tree's keys from P, not from KEYS: in a
cluster every such key is in the slot of KEYS[1] = P .. "meta", which is
what the server checks.
  P.."meta"        hash  tree (the root's number), hold, charge (id counters)
  P.."b:"..path    hash  one budget: spec (text), limits, derived ceilings, counters
  P.."h:"..seq     hash  one open hold
  P.."holds"       zset  open holds by expires_at_ms
  P.."k:"..key     hash  one remembered idempotency answer
  P.."charges"     stream one entry per charge (not trimmed yet: docs/multi-node.md); a
                   field whose value is "" or "0" is left out of the entry
  P.."windows"     stream one entry per closed window of a budget (roll, below)

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
local NONE = -1
local COUNTER_MAX = 9007199254740991 -- 2^53 - 1
local REASON_CEILING, REASON_REVOKED, REASON_FROZEN = 1, 2, 3
local REASON_CALLS, REASON_TOKENS, REASON_OVERRUN = 4, 5, 6
local FREES_CALLS, FREES_TOKENS, FREES_MICROS = 0, 1, 2

local function fmt(x)
    return string.format('%d', x)
end

local function fail(status, message)
    return {status, message}
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

-- Numeric fields of a budget hash; `spec` (the declared spec as text) is read apart.
local FIELDS = {'limit', 'calls_limit', 'tokens_limit', 'window', 'thr', 'c0', 'c1', 'c2', 'c3',
                'cap', 'frozen', 'ws', 'we', 'spent', 'held', 'cu', 'ch', 'tu', 'th', 'revoked',
                'children', 'holds'}
-- Fields an operation may change (written back by save).
local STATE = {'frozen', 'ws', 'we', 'spent', 'held', 'cu', 'ch', 'tu', 'th', 'revoked',
               'children', 'holds'}

-- b.old keeps the loaded STATE values, so budget_save writes only what changed: a charge
-- on an unlimited budget writes spent, cu and tu, not all twelve counters.
local function budget_load(P, path)
    local values = redis.call('HMGET', P .. 'b:' .. path, unpack(FIELDS))
    if not values[1] then
        return nil
    end
    local b = {path = path}
    for i, name in ipairs(FIELDS) do
        b[name] = tonumber(values[i])
    end
    local old = {}
    for _, name in ipairs(STATE) do
        old[name] = b[name]
    end
    b.old = old
    return b
end

local function budget_save(P, b)
    local args = {}
    local old = b.old or {}
    for _, name in ipairs(STATE) do
        if old[name] ~= b[name] then
            args[#args + 1] = name
            args[#args + 1] = fmt(b[name])
        end
    end
    if #args > 0 then
        redis.call('HSET', P .. 'b:' .. b.path, unpack(args))
    end
    for _, name in ipairs(STATE) do
        old[name] = b[name]
    end
    b.old = old
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

-- The budgets of the path, leaf first; nil when the leaf does not exist (a parent always
-- does: budgets are made parents first and deleted children first).
local function chain_load(P, path)
    local chain = {}
    for i, p in ipairs(chain_paths(path)) do
        local b = budget_load(P, p)
        if not b then
            return nil
        end
        chain[i] = b
    end
    return chain
end

local function chain_save(P, chain)
    for _, b in ipairs(chain) do
        budget_save(P, b)
    end
end

local function has_bit(mask, c)
    return bit.band(mask, bit.lshift(1, c)) ~= 0
end

local function locked(b)
    return b.limit >= 0 and b.spent > b.limit
end

-- Is the hold's budget `hold_path` on the subtree of `path`?
local function under(hold_path, path)
    return hold_path == path or string.sub(hold_path, 1, #path + 1) == path .. '/'
end

-- Lifts revocations whose ceiling is above spend again (window rolled, limit raised).
local function reinstate(b)
    for c = 0, 3 do
        if has_bit(b.revoked, c) then
            local ceiling = b['c' .. c]
            if not (ceiling >= 0 and b.spent >= ceiling) then
                b.revoked = bit.band(b.revoked, bit.bnot(bit.lshift(1, c)))
            end
        end
    end
end

-- Window bounds of kind 1..4 (hour, day, week, month) at now, passed in by the caller
-- (computed by the core's tz.c in UTC, so both implementations share one calendar).
local function window_set(b, bounds)
    if b.window == 0 then
        b.ws, b.we = 0, 0 -- lifetime: never rolls (the caller reads INT64_MIN, INT64_MAX)
    else
        b.ws, b.we = bounds[2 * b.window - 1], bounds[2 * b.window]
    end
end

-- Rolls b's window when now is past its end. The stored end is the one every daemon
-- compares with, so a window rolls once, at the first daemon whose clock passes it; a
-- daemon whose clock is behind finds now < the new end and charges into the new window,
-- never into the closed one. The closed window goes to P.."windows" (history), with the
-- tree's last charge number then: charges numbered up to it were counted in it.
local function roll(P, b, now, bounds)
    if b.window == 0 or now < b.we then
        return
    end
    redis.call('XADD', P .. 'windows', '*', 'budget', b.path, 'start', fmt(b.ws), 'end',
               fmt(b.we), 'spent', fmt(b.spent), 'calls', fmt(b.cu), 'tokens', fmt(b.tu),
               'last_charge', redis.call('HGET', P .. 'meta', 'charge') or '0', 'rolled_at',
               fmt(now))
    b.spent, b.cu, b.tu = 0, 0, 0
    window_set(b, bounds)
    reinstate(b)
end

-- Tells every open hold of class `cls` on b's subtree to cancel.
local function cancel_holds(P, b, cls)
    if b.holds == 0 then
        return
    end
    for _, seq in ipairs(redis.call('ZRANGE', P .. 'holds', 0, -1)) do
        local h = redis.call('HMGET', P .. 'h:' .. seq, 'budget', 'cls', 'cancel')
        if tonumber(h[2]) == cls and h[3] == '0' and under(h[1], b.path) then
            redis.call('HSET', P .. 'h:' .. seq, 'cancel', '1')
        end
    end
end

-- Revocations a charge or a new limit reached (alerts are events: not kept here yet).
local function check_levels(P, b)
    if b.limit < 0 then
        reinstate(b)
        return
    end
    for c = 0, 3 do
        local ceiling = b['c' .. c]
        if not has_bit(b.revoked, c) and b.spent >= ceiling then
            b.revoked = bit.bor(b.revoked, bit.lshift(1, c))
            cancel_holds(P, b, c)
        end
    end
    reinstate(b)
end

-- ---- holds ------------------------------------------------------------------------------

local HOLD_FIELDS = {'budget', 'amount', 'tokens', 'cls', 'tool', 'model', 'created', 'expires',
                     'cancel'}

local function hold_load(P, seq)
    local v = redis.call('HMGET', P .. 'h:' .. seq, unpack(HOLD_FIELDS))
    if not v[1] then
        return nil
    end
    return {seq = seq, budget = v[1], amount = tonumber(v[2]), tokens = tonumber(v[3]),
            cls = tonumber(v[4]), tool = v[5], model = v[6], created = tonumber(v[7]),
            expires = tonumber(v[8]), cancel = tonumber(v[9])}
end

-- Takes the hold off its path's counters and deletes it; the chain is saved by the caller.
local function hold_close(P, h, chain)
    for _, b in ipairs(chain) do
        b.held = b.held - h.amount
        b.ch = b.ch - 1
        b.th = b.th - h.tokens
        b.holds = b.holds - 1
        assert(b.held >= 0 and b.ch >= 0 and b.th >= 0 and b.holds >= 0, 'negative counter')
    end
    redis.call('DEL', P .. 'h:' .. h.seq)
    redis.call('ZREM', P .. 'holds', h.seq)
end

-- Releases every hold of the tree whose deadline is at or before now.
local function holds_expire(P, now)
    local due = redis.call('ZRANGEBYSCORE', P .. 'holds', '-inf', fmt(now))
    for _, seq in ipairs(due) do
        local h = hold_load(P, seq)
        local chain = chain_load(P, h.budget)
        hold_close(P, h, chain)
        chain_save(P, chain)
    end
end

-- ---- deciding ---------------------------------------------------------------------------

-- The earliest time by which the holds on b's subtree that expired by then free at
-- least `needed`; NONE when all of them together free less (decide.c: enough_expired).
local function enough_expired(P, b, dimension, needed)
    if b.holds == 0 then
        return NONE
    end
    local freed = 0
    local all = redis.call('ZRANGE', P .. 'holds', 0, -1, 'WITHSCORES')
    for i = 1, #all, 2 do
        local h = redis.call('HMGET', P .. 'h:' .. all[i], 'budget', 'amount', 'tokens')
        if under(h[1], b.path) then
            local amount = 1
            if dimension == FREES_TOKENS then
                amount = tonumber(h[3])
            elseif dimension == FREES_MICROS then
                amount = tonumber(h[2])
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
    if asked <= level and b.window ~= 0 and (at < 0 or b.we < at) then
        at = b.we
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
        if b.frozen == 1 or locked(b) or has_bit(b.revoked, cls) then
            return 0
        end
        if b.calls_limit >= 0 and b.cu + b.ch + 1 > b.calls_limit then
            return 0
        end
        if b.tokens_limit >= 0 and b.tu + b.th + tokens > b.tokens_limit then
            return 0
        end
        local ceiling = b['c' .. cls]
        if ceiling >= 0 then
            local room = ceiling - b.spent - b.held
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
    local ceiling = b['c' .. cls]
    if b.frozen == 1 then
        return {REASON_FROZEN, b.path, 0, NONE}
    elseif locked(b) then
        return {REASON_OVERRUN, b.path, 0,
                retry_after(P, b, FREES_MICROS, 0, 0, amount, ceiling, false, now)}
    elseif b.calls_limit >= 0 and b.cu + b.ch + 1 > b.calls_limit then
        return {REASON_CALLS, b.path, 0,
                retry_after(P, b, FREES_CALLS, b.cu, b.ch, 1, b.calls_limit, true, now)}
    elseif b.tokens_limit >= 0 and b.tu + b.th + tokens > b.tokens_limit then
        return {REASON_TOKENS, b.path, 0,
                retry_after(P, b, FREES_TOKENS, b.tu, b.th, tokens, b.tokens_limit, true, now)}
    elseif b.limit >= 0 then
        local total = b.spent + b.held + amount
        local revoked = has_bit(b.revoked, cls)
        if total <= b.limit and not revoked and total <= ceiling then
            return nil
        end
        local reason = total > b.limit and REASON_CEILING or REASON_REVOKED
        return {reason, b.path, 0,
                retry_after(P, b, FREES_MICROS, b.spent, b.held, amount, ceiling, not revoked, now)}
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
        if b.held + held_delta > COUNTER_MAX or b.spent + spent_delta > COUNTER_MAX or
            b.tu + b.th + tokens_delta > COUNTER_MAX then
            chain_save(P, chain)
            return fail(ERR_RANGE, "budget '" .. b.path .. "' cannot count that much more")
        end
    end
    return nil
end

local function path_roll(P, chain, now, bounds)
    for _, b in ipairs(chain) do
        roll(P, b, now, bounds)
    end
end

-- Charges `cost` on the whole path; returns the charge's sequence number.
local function charge(P, chain, cost, tokens, row, now)
    for _, b in ipairs(chain) do
        b.spent = b.spent + cost
        b.cu = b.cu + 1
        b.tu = b.tu + tokens
    end
    local seq = redis.call('HINCRBY', P .. 'meta', 'charge', 1)
    -- The entry's fields: seq, time, budget and cost always; of `row`'s name/value pairs
    -- only those that are not "" or "0" (a reader takes a missing field as that).
    local entry = {P .. 'charges', '*', 'seq', fmt(seq), 'time', fmt(now), 'budget',
                   chain[1].path, 'cost', fmt(cost)}
    for i = 1, #row, 2 do
        local value = row[i + 1]
        if value ~= '' and value ~= '0' then
            entry[#entry + 1] = row[i]
            entry[#entry + 1] = value
        end
    end
    redis.call('XADD', unpack(entry))
    for _, b in ipairs(chain) do
        check_levels(P, b)
    end
    return seq
end

-- ---- idempotency ------------------------------------------------------------------------

-- {found answer fields} or nil; a failure array on conflict. Keys older than the ttl are
-- forgotten here (Redis's own expiry runs on its clock, not on now_ms, so it only
-- collects what this check would forget anyway).
local function idem_lookup(P, key, op, args, now, ttl)
    if key == '' then
        return nil
    end
    local v = redis.call('HMGET', P .. 'k:' .. key, 'op', 'args', 'created', 'a1', 'a2', 'a3', 'a4')
    if not v[1] then
        return nil
    end
    if now - tonumber(v[3]) >= ttl then
        redis.call('DEL', P .. 'k:' .. key)
        return nil
    end
    if v[1] ~= op or v[2] ~= args then
        return fail(ERR_CONFLICT, "idempotency key '" .. key ..
                        "' was used with other arguments or another operation")
    end
    return {0, 1, tonumber(v[4]), tonumber(v[5]), tonumber(v[6]), tonumber(v[7])}
end

local function idem_remember(P, key, op, args, now, ttl_ms, a1, a2, a3, a4)
    if key == '' then
        return
    end
    local k = P .. 'k:' .. key
    redis.call('HSET', k, 'op', op, 'args', args, 'created', fmt(now), 'a1', fmt(a1), 'a2',
               fmt(a2), 'a3', fmt(a3), 'a4', fmt(a4))
    -- Garbage collection in server time, with room for clocks apart: never before the
    -- check above would forget the key.
    redis.call('PEXPIRE', k, fmt(ttl_ms + 3600000))
end

-- ---- the operations ---------------------------------------------------------------------

local function num(x)
    return tonumber(x)
end

local function bounds_of(args, from)
    local bounds = {}
    for i = 0, 7 do
        bounds[i + 1] = num(args[from + i])
    end
    return bounds
end

-- tg_reserve(P) now path amount tokens cls tool model expires key args idem_ttl bounds*8
local function tg_reserve(keys, args)
    local P = keys[1]
    local now, path, amount, tokens, cls = num(args[1]), args[2], num(args[3]), num(args[4]),
        num(args[5])
    local tool, model, expires, key, key_args = args[6], args[7], num(args[8]), args[9], args[10]
    local idem_ttl, bounds = num(args[11]), bounds_of(args, 12)
    holds_expire(P, now)
    local first = idem_lookup(P, key, 'reserve', key_args, now, idem_ttl)
    if first then
        return first -- {0, replayed, seq, expires, cls, tree} or a conflict
    end
    local chain = chain_load(P, path)
    if not chain then
        return no_budget(path)
    end
    path_roll(P, chain, now, bounds)
    local refused = path_room(P, chain, amount, 0, tokens)
    if refused then
        return refused
    end
    local refusal = path_admits(P, chain, amount, tokens, cls, now)
    if refusal then
        chain_save(P, chain) -- the windows it rolled
        return {0, 0, 0, 0, cls, 0, refusal[1], refusal[2], refusal[3], refusal[4]}
    end
    local seq = redis.call('HINCRBY', P .. 'meta', 'hold', 1)
    redis.call('HSET', P .. 'h:' .. seq, 'budget', path, 'amount', fmt(amount), 'tokens',
               fmt(tokens), 'cls', fmt(cls), 'tool', tool, 'model', model, 'created', fmt(now),
               'expires', fmt(expires), 'cancel', '0')
    redis.call('ZADD', P .. 'holds', fmt(expires), fmt(seq))
    for _, b in ipairs(chain) do
        b.held = b.held + amount
        b.ch = b.ch + 1
        b.th = b.th + tokens
        b.holds = b.holds + 1
    end
    chain_save(P, chain)
    idem_remember(P, key, 'reserve', key_args, now, idem_ttl, seq, expires, cls, 1)
    return {0, 0, seq, expires, cls, 1}
end

-- tg_commit(P) now seq actual tokens_in tokens_out agent key args idem_ttl bounds*8
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
    local refused = path_room(P, chain, 0, actual, tokens_in + tokens_out)
    if refused then
        return refused
    end
    local capped = false
    if actual > h.amount and agent then
        for _, b in ipairs(chain) do
            capped = capped or b.cap == 1
        end
    end
    local cost = capped and h.amount or actual
    local overrun = actual > h.amount and actual - h.amount or 0
    hold_close(P, h, chain)
    local charge_seq = charge(P, chain, cost, tokens_in + tokens_out,
                              {'hold', h.seq, 'cls', fmt(h.cls), 'tool', h.tool, 'model', h.model,
                               'held', fmt(h.amount), 'tokens_in', fmt(tokens_in), 'tokens_out',
                               fmt(tokens_out)}, now)
    chain_save(P, chain)
    local capped_flag = capped and 1 or 0
    idem_remember(P, key, 'commit', key_args, now, idem_ttl, cost, overrun, charge_seq, capped_flag)
    return {0, 0, cost, overrun, charge_seq, capped_flag}
end

-- tg_release(P) now seq key args idem_ttl
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
    local chain = chain_load(P, h.budget)
    hold_close(P, h, chain)
    chain_save(P, chain)
    idem_remember(P, key, 'release', key_args, now, idem_ttl, 0, 0, 0, 0)
    return {0, 0}
end

-- tg_record(P) now path cost tokens_in tokens_out cls tool model force key args idem_ttl bounds*8
local function tg_record(keys, args)
    local P = keys[1]
    local now, path, cost, tokens_in, tokens_out = num(args[1]), args[2], num(args[3]),
        num(args[4]), num(args[5])
    local cls, tool, model, force = num(args[6]), args[7], args[8], args[9] == '1'
    local key, key_args, idem_ttl, bounds = args[10], args[11], num(args[12]), bounds_of(args, 13)
    holds_expire(P, now)
    local first = idem_lookup(P, key, 'record', key_args, now, idem_ttl)
    if first then
        return first[1] == 0 and {0, 1, first[5]} or first -- the first answer's charge
    end
    local chain = chain_load(P, path)
    if not chain then
        return no_budget(path)
    end
    path_roll(P, chain, now, bounds)
    local tokens = tokens_in + tokens_out
    local refused = path_room(P, chain, 0, cost, tokens)
    if refused then
        return refused
    end
    if not force then
        local refusal = path_admits(P, chain, cost, tokens, cls, now)
        if refusal then
            chain_save(P, chain)
            return {0, 0, 0, refusal[1], refusal[2], refusal[3], refusal[4]}
        end
    end
    local charge_seq = charge(P, chain, cost, tokens,
                              {'hold', '0', 'cls', fmt(cls), 'tool', tool, 'model', model, 'held',
                               '0', 'tokens_in', fmt(tokens_in), 'tokens_out', fmt(tokens_out)},
                              now)
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

-- tg_budget_put(P) now path tree spec limit calls tokens window thr c0 c1 c2 c3 cap bounds*8
local function tg_budget_put(keys, args)
    local P = keys[1]
    local now, path, tree, spec = num(args[1]), args[2], num(args[3]), args[4]
    holds_expire(P, now)
    local b = budget_load(P, path)
    local created = b == nil
    if not created then
        roll(P, b, now, bounds_of(args, 15))
        if redis.call('HGET', P .. 'b:' .. path, 'spec') == spec then
            budget_save(P, b)
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
            parent.children = parent.children + 1
            budget_save(P, parent)
        else
            redis.call('HSETNX', P .. 'meta', 'tree', fmt(tree))
        end
        b = {path = path, frozen = 0, ws = 0, we = 0, spent = 0, held = 0, cu = 0, ch = 0,
             tu = 0, th = 0, revoked = 0, children = 0, holds = 0}
    end
    local window = num(args[8])
    local window_changed = created or b.window ~= window
    local fields = {'limit', 'calls_limit', 'tokens_limit', 'window', 'thr', 'c0', 'c1', 'c2',
                    'c3', 'cap'}
    for i, name in ipairs(fields) do
        b[name] = num(args[4 + i])
    end
    if window_changed then
        window_set(b, bounds_of(args, 15))
    end
    redis.call('HSET', P .. 'b:' .. path, 'spec', spec, unpack((function()
        local out = {}
        for _, name in ipairs(fields) do
            out[#out + 1] = name
            out[#out + 1] = fmt(b[name])
        end
        return out
    end)()))
    check_levels(P, b)
    budget_save(P, b)
    return {0, created and 1 or 0}
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
    local out = {0, redis.call('HGET', P .. 'b:' .. path, 'spec'), b.frozen, b.ws, b.we, b.spent,
                 b.held, b.cu, b.ch, b.tu, b.th, b.thr, b.c0, b.c1, b.c2, b.c3}
    for c = 0, 3 do
        out[#out + 1] = headroom(chain, c, 0)
    end
    out[#out + 1] = b.revoked
    out[#out + 1] = locked(b) and 1 or 0
    out[#out + 1] = b.children
    return out
end

-- tg_budget_delete(P) now path
local function tg_budget_delete(keys, args)
    local P = keys[1]
    local now, path = num(args[1]), args[2]
    holds_expire(P, now)
    local b = budget_load(P, path)
    if not b then
        return no_budget(path)
    end
    if b.children > 0 or b.holds > 0 then
        return fail(ERR_STATE, "budget '" .. path .. "' has " .. fmt(b.children) ..
                        ' children and ' .. fmt(b.holds) .. ' open holds')
    end
    local parents = chain_paths(path)
    if #parents > 1 then
        local parent = budget_load(P, parents[2])
        parent.children = parent.children - 1
        budget_save(P, parent)
    end
    redis.call('DEL', P .. 'b:' .. path)
    return {0}
end

-- tg_budget_freeze(P) now path frozen
local function tg_budget_freeze(keys, args)
    local P = keys[1]
    local path, frozen = args[2], args[3]
    if not redis.call('HGET', P .. 'b:' .. path, 'limit') then
        return no_budget(path)
    end
    redis.call('HSET', P .. 'b:' .. path, 'frozen', frozen)
    return {0}
end

-- tg_tree(registry) root: the root's number, made on first use. A root is rare (an admin
-- creates it), so this is its own call in its own slot ({roots}), not part of an operation.
local function tg_tree(keys, args)
    local registry, root = keys[1], args[1]
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

redis.register_function('tg_reserve', tg_reserve)
redis.register_function('tg_commit', tg_commit)
redis.register_function('tg_release', tg_release)
redis.register_function('tg_record', tg_record)
redis.register_function('tg_hold_get', tg_hold_get)
redis.register_function('tg_budget_put', tg_budget_put)
redis.register_function('tg_budget_get', tg_budget_get)
redis.register_function('tg_budget_delete', tg_budget_delete)
redis.register_function('tg_budget_freeze', tg_budget_freeze)
redis.register_function('tg_tree', tg_tree)
redis.register_function('tg_tree_root', tg_tree_root)
