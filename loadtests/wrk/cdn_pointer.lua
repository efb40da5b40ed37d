-- SDK instances polling the pointer through the CDN stand-in with If-None-Match.
-- env: VEXIL_ETAG (the pointer's current ETag; absent -> unconditional GETs, all 200s),
--      VEXIL_WRK_DIR (this directory; default loadtests/wrk).
-- usage: VEXIL_ETAG='"abc"' wrk -t2 -c64 -d20s --latency -s loadtests/wrk/cdn_pointer.lua \
--          https://127.0.0.1:8443/bundles/shop/staging/current.json
package.path = (os.getenv("VEXIL_WRK_DIR") or "loadtests/wrk") .. "/?.lua;" .. package.path
local stats = require("vexil_stats")

local etag = os.getenv("VEXIL_ETAG")
if etag and etag ~= "" then
  wrk.headers["If-None-Match"] = etag
end

setup = stats.setup
init = stats.init
response = stats.response
done = stats.done
