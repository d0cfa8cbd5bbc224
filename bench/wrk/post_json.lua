-- The real-app JSON scenario: POST the order in order.json (beside this script) as
-- application/json (wrk adds Content-Length), plus the JSON report.
local dir = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
dofile(dir .. "report.lua")
local file = assert(io.open(dir .. "order.json", "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"
