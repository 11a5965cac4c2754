-- analytics-api's request mix (bench/bench-api.sh): meter status, one day
-- of a meter's hourly rollups and the fleet's load, 90 % of them on 500
-- hot meters. WRK_API_MIX picks the share of each ("status,rollups,fleet"
-- in percent, default 40,40,20), WRK_API_TOKEN the bearer token,
-- WRK_API_METERS how many meters exist (MTR-00001 ...). Prints p95 at the end.
local token = os.getenv("WRK_API_TOKEN") or ""
local meters = tonumber(os.getenv("WRK_API_METERS") or "10000")
local mix = os.getenv("WRK_API_MIX") or "40,40,20"
local s, r = mix:match("^(%d+),(%d+),%d+$")
s, r = tonumber(s), tonumber(r)
wrk.headers["Authorization"] = "Bearer " .. token
-- one UTC day well inside the fixture: yesterday, from midnight
local day = os.date("!%Y-%m-%d", os.time() - 86400)
local from = day .. "T00:00:00Z"
local to = os.date("!%Y-%m-%d", os.time()) .. "T00:00:00Z"

local function meter()
    local m
    if math.random(100) <= 90 then m = math.random(math.min(500, meters)) else m = math.random(meters) end
    return string.format("MTR-%05d", m)
end

request = function()
    local p = math.random(100)
    local path
    if p <= s then
        path = "/v1/meters/" .. meter() .. "/status"
    elseif p <= s + r then
        path = "/v1/meters/" .. meter() .. "/rollups?width=1h&from=" .. from .. "&to=" .. to
    else
        path = "/v1/fleet/load?width=1h"
    end
    return wrk.format("GET", path)
end

local bad = 0
response = function(status)
    if status ~= 200 then bad = bad + 1 end
end

done = function(summary, latency, requests)
    io.write(string.format("RESULT req_s=%.0f p50_ms=%.2f p95_ms=%.2f p99_ms=%.2f non2xx=%d errors=%d\n",
        summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
        latency:percentile(95) / 1000, latency:percentile(99) / 1000,
        summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
