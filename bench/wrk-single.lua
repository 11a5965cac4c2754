-- One reading per request, 10,000 meters in turn, keep-alive (wrk's default).
-- Every 2xx is a reading Kafka acknowledged; anything else is counted by wrk.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local n = 0
request = function()
    n = n + 1
    local body = string.format(
        '{"meter_id":"BENCH-%05d","ts":%d,"value":%d.5,"unit":"W","interval_s":60}',
        n % 10000, 1710511200000 + n * 1000, n % 5000)
    return wrk.format(nil, nil, nil, body)
end
