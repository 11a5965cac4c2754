-- 500 readings per request (a concentrator's upload; WRK_BATCH=N for N), bodies pre-built so the
-- load generator spends its CPU on HTTP, not on Lua string building.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local size = tonumber(os.getenv("WRK_BATCH") or "500") -- readings per request
local bodies = {}
for b = 1, 20 do
    local items = {}
    for i = 1, size do
        items[i] = string.format(
            '{"meter_id":"BATCH-%05d","ts":%d,"value":%d.25,"unit":"W","interval_s":60}',
            (b * size + i) % 10000, 1710511200000 + (b * size + i) * 1000, i)
    end
    bodies[b] = "[" .. table.concat(items, ",") .. "]"
end
local n = 0
request = function()
    n = n + 1
    return wrk.format(nil, nil, nil, bodies[n % #bodies + 1])
end
