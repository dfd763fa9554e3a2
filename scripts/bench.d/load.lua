-- Bulk desire for scripts/bench's memory and restart measurements: every wrk thread (one
-- connection each) desires LOAD_PER_THREAD tasks named <LOAD_PREFIX>-<thread>-<n> in
-- LOAD_DOMAIN with the kit's task definition, then stops. Reuses the kit's encoder and
-- response scan (BENCH_LIB/common.lua); prints the kit's one-line report at the end.
local pb = dofile(os.getenv("BENCH_LIB") .. "/common.lua")
local tdef = pb.bytes(1, pb.read_file(pb.getenv("BENCH_TASKDEF")))
local domain = pb.bytes(3, pb.getenv("LOAD_DOMAIN"))
local quota = tonumber(pb.getenv("LOAD_PER_THREAD"))
local gprefix, n

function init(args)
  gprefix = pb.getenv("LOAD_PREFIX") .. "-" .. tid .. "-"
  n = 0
end

function next_request()
  n = n + 1
  return pb.post("/v1/tasks/desire.r2", tdef .. pb.bytes(2, gprefix .. n) .. domain)
end

function response(status, headers, body)
  pb.check(status, body)
  if resp >= quota then
    local f = assert(io.open(pb.getenv("LOAD_DONE"), "a"))
    f:write(tid, "\n")
    f:close()
    wrk.thread:stop()
  end
end

function extra_fields(agg, dur)
  return string.format("desired=%d", agg.resp - agg.non200 - agg.bbs_errors)
end
