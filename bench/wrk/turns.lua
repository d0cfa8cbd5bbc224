-- The mixed scenarios' fixed mix: each request goes to the next route in turn, so the client,
-- not the server, decides how many requests each route gets (a server that starved one
-- route would hold its connections and answer fewer in all), plus the JSON report. The
-- routes come after wrk's `--`, each "METHOD PATH [BODY]": BODY is a file beside this
-- script sent as JSON, or "x64k" for the echoes' 64 KiB of x.
local dir = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
dofile(dir .. "report.lua")

local requests = {}
local turn = 0

local function body_of(name)
  if name == "x64k" then
    return string.rep("x", 65536), "application/octet-stream"
  end
  local file = assert(io.open(dir .. name, "rb"))
  local body = file:read("*a")
  file:close()
  return body, "application/json"
end

function init(args)
  for _, route in ipairs(args) do
    local method, path, body_name = route:match("^(%S+) (%S+) ?(%S*)$")
    assert(method, "a route is \"METHOD PATH [BODY]\", not " .. route)
    local headers, body = {}, nil
    if body_name ~= "" then
      body, headers["Content-Type"] = body_of(body_name)
    end
    requests[#requests + 1] = wrk.format(method, path, headers, body)
  end
  assert(#requests > 0, "no route given after --")
end

function request()
  turn = turn % #requests + 1
  return requests[turn]
end
