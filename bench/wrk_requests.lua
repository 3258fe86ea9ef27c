-- wrk script: replay pre-built raw HTTP requests round-robin (headers, cookie, token and body
-- included), so wrk sends exactly what bench/loadgen.py sends.
--   wrk -t1 -c16 -d5s --latency -s bench/wrk_requests.lua http://127.0.0.1:PORT -- REQUESTS_FILE
-- REQUESTS_FILE: each request as "<length>\n<bytes>" (written by bench/sidecar.py).

local requests = {}
local i = 0

function init(args)
  local f = assert(io.open(args[1], "rb"))
  local data = f:read("*a")
  f:close()
  local pos = 1
  while pos <= #data do
    local nl = data:find("\n", pos, true)
    local len = tonumber(data:sub(pos, nl - 1))
    requests[#requests + 1] = data:sub(nl + 1, nl + len)
    pos = nl + 1 + len
  end
  assert(#requests > 0, "no requests in " .. args[1])
  i = math.random(#requests) - 1 -- threads start at different places in the list
end

function request()
  i = i % #requests + 1
  return requests[i]
end
