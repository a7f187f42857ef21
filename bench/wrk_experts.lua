-- wrk script for GET /v1/experts: rotates through realistic queries, with a bearer token.
--
--   wrk -t2 -c50 -d30s --latency -s bench/wrk_experts.lua http://127.0.0.1:8081 \
--       -- bench/out/data/queries.txt INTERNAL_TOKEN [EXTERNAL_TOKEN]
--
-- Every third request uses EXTERNAL_TOKEN when it is given (as bench/run.py searches every
-- third query for the external audience). bench/api_load.py runs this and parses wrk's output.

local requests = {}
local position = 0
local threads = 0

function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end

local function urlencode(text)
  return (text:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

function init(args)
  local file = assert(io.open(args[1], "r"), "cannot read the queries file " .. tostring(args[1]))
  local tokens = { args[2], args[3] or args[2] }
  local index = 0
  for line in file:lines() do
    local query = line:gsub("^%s+", ""):gsub("%s+$", "")
    if query ~= "" then
      index = index + 1
      local token = tokens[(index % 3 == 0) and 2 or 1]
      requests[#requests + 1] = wrk.format("GET", "/v1/experts?q=" .. urlencode(query),
        { ["Authorization"] = "Bearer " .. token, ["Accept"] = "application/json" })
    end
  end
  file:close()
  assert(#requests > 0, "no queries in " .. args[1])
  -- threads start at different places in the rotation
  position = ((id or 0) * 101) % #requests
end

function request()
  position = position % #requests + 1
  return requests[position]
end
