-- /v1/telemetry: 500 mixed items per request in the seed's camelCase
-- (half AC charger readings, half vehicle reports: each item routed by its
-- shape), bodies pre-built as wrk-batch.lua's are.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local bodies = {}
for b = 1, 20 do
    local items = {}
    for i = 1, 500 do
        local n = b * 500 + i
        local ts = 1710511200000 + n * 1000
        if i % 2 == 0 then
            items[i] = string.format(
                '{"meterId":"EVC-%05d","kwhConsumedAc":%d.25,"voltage":230.5,"timestamp":%d}',
                n % 10000, i % 7, ts)
        else
            items[i] = string.format(
                '{"vehicleId":"EV-%05d","soc":%d.5,"kwhDeliveredDc":0.42,"batteryTemp":28.1,"timestamp":%d}',
                n % 10000, i % 100, ts)
        end
    end
    bodies[b] = "[" .. table.concat(items, ",") .. "]"
end
local n = 0
request = function()
    n = n + 1
    return wrk.format(nil, nil, nil, bodies[n % #bodies + 1])
end
