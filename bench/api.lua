-- wrk script for bench/api: each request is one decision (POST /v1/charges on an
-- unlimited budget, so every decision is granted and written), or with
-- TG_BATCH=N a POST /v1/batch of N such decisions. The key is TOLLGATE_KEY.
local batch = tonumber(os.getenv("TG_BATCH") or "0")
local key = os.getenv("TOLLGATE_KEY") or "bench"
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. key
wrk.headers["Content-Type"] = "application/json"
local one = '{"budget":"bench/agent","cost_micros":1}'
if batch > 0 then
   local ops = {}
   for i = 1, batch do
      ops[i] = '{"op":"charge","body":' .. one .. '}'
   end
   wrk.path = "/v1/batch"
   wrk.body = '{"operations":[' .. table.concat(ops, ",") .. ']}'
else
   wrk.path = "/v1/charges"
   wrk.body = one
end

function done(summary, latency, requests)
   local per = batch > 0 and batch or 1
   io.write(string.format("RESULT requests/s=%.0f decisions/s=%.0f decisions=%d p50_us=%d p99_us=%d errors=%d\n",
      summary.requests / (summary.duration / 1e6),
      summary.requests * per / (summary.duration / 1e6),
      summary.requests * per,
      latency:percentile(50), latency:percentile(99),
      summary.errors.status + summary.errors.connect + summary.errors.read +
      summary.errors.write + summary.errors.timeout))
end
