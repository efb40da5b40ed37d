-- Shared by the Vexil wrk scripts: count responses by status in every thread and print
-- machine-readable lines at the end (loadtests/loadgen.py parses them):
--   vexil-status <code> <count>
--   vexil-latency-us <p50> <p90> <p99> <p99.9> <max>
local M = {}
local threads = {}

function M.setup(thread)
  table.insert(threads, thread)
end

function M.init()
  statuses = {}
end

function M.response(status)
  statuses[status] = (statuses[status] or 0) + 1
end

function M.done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    local counts = t:get("statuses") or {}
    for code, n in pairs(counts) do
      total[code] = (total[code] or 0) + n
    end
  end
  for code, n in pairs(total) do
    io.write(string.format("vexil-status %d %d\n", code, n))
  end
  io.write(string.format("vexil-latency-us %d %d %d %d %d\n",
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max))
end

return M
