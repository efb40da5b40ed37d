-- Immutable bundle downloads through the CDN stand-in (every answer a 200 from nginx's cache).
-- usage: wrk -t2 -c64 -d20s --latency -s loadtests/wrk/cdn_bundle.lua \
--          https://127.0.0.1:8443/bundles/shop/staging/<revision>-<sha>.bundle
package.path = (os.getenv("VEXIL_WRK_DIR") or "loadtests/wrk") .. "/?.lua;" .. package.path
local stats = require("vexil_stats")

setup = stats.setup
init = stats.init
response = stats.response
done = stats.done
