-- Browsers / mobile apps evaluating through the OFREP edge server, a new context per request.
-- env: VEXIL_SDK_KEY (client SDK key), VEXIL_FLAGS (comma-separated flag keys; empty -> bulk
--      evaluation POST /ofrep/v1/evaluate/flags), VEXIL_WRK_DIR (default loadtests/wrk).
-- usage: VEXIL_SDK_KEY=vxl_cli_... VEXIL_FLAGS=checkout-enabled,free-shipping \
--          wrk -t2 -c32 -d20s --latency -s loadtests/wrk/ofrep.lua http://127.0.0.1:8070
package.path = (os.getenv("VEXIL_WRK_DIR") or "loadtests/wrk") .. "/?.lua;" .. package.path
local stats = require("vexil_stats")

local countries = {"DE", "FR", "NL", "US", "GB", "ES", "IT", "PL", "SE", "JP", "BR", "IN"}
local platforms = {"web", "ios", "android"}
local plans = {"free", "free", "free", "pro", "team"}
local flags = {}
for key in string.gmatch(os.getenv("VEXIL_FLAGS") or "", "[^,]+") do
  table.insert(flags, key)
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("VEXIL_SDK_KEY") or "")

local counter = 0
setup = stats.setup
response = stats.response
done = stats.done

function init(args)
  stats.init()
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
end

request = function()
  counter = counter + 1
  local body = string.format(
    '{"context":{"targetingKey":"user-%d","country":"%s","platform":"%s","plan":"%s"}}',
    math.random(0, 999999), countries[math.random(#countries)],
    platforms[math.random(#platforms)], plans[math.random(#plans)])
  local path = "/ofrep/v1/evaluate/flags"
  if #flags > 0 then
    path = path .. "/" .. flags[(counter % #flags) + 1]
  end
  return wrk.format(nil, path, nil, body)
end
