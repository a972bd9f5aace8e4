-- wrk request generator for the background load of api/bench/sse_latency.sh: POST /ingest/v1/fixes
-- at a steady rate (wrk itself sends as fast as it can; wrk2 is not available).
-- args: devices token_prefix token batch base_epoch_s run threads rate connections
-- The fixes are those of tracker/bench/ingest.lua without the storm: each device is driven by one
-- wrk thread, its fixes numbered consecutively (seq = run*1e10 + i), one second apart from
-- base_epoch_s, walking about a metre a second (inside its fence: nothing raises an alarm).
-- Pacing: rate > 0 is the target in fixes/s for all threads together. Before each request a
-- connection waits `d` ms (jittered ±50 % so that the connections do not send in step); once a
-- second (wrk's Lua has only os.time) each thread compares what it sent in the last second with
-- its share of the target and scales `d` by the ratio (at most ×1.5 or ÷1.5 a second). The rate
-- actually reached is measured from the server's counters by sse_latency.py, not taken from here.
-- rate 0: no pacing, as fast as possible (the warm-up).
local thread_count = 0
function setup(thread)
  thread:set("tid", thread_count)
  thread_count = thread_count + 1
end

function init(args)
  devices = tonumber(args[1])
  prefix = args[2]
  token = args[3]
  batch = tonumber(args[4])
  base = tonumber(args[5])
  run = tonumber(args[6])
  threads = tonumber(args[7])
  rate = tonumber(args[8])
  connections = tonumber(args[9])
  owned = {}
  for dev = tid, devices - 1, threads do
    owned[#owned + 1] = dev
  end
  sent = {}
  g = 0
  math.randomseed(os.time() * 7919 + tid)
  if rate > 0 then
    -- requests per second this thread should send, and the wait of each of its connections
    share = rate / threads / batch
    d0 = (connections / threads) / share * 1000
    d = d0
  end
  second = os.time()
  ticks = 0
  count = 0
end

function delay()
  if rate <= 0 then
    return 0
  end
  local now = os.time()
  if now ~= second then
    ticks = ticks + 1
    -- the first window is a part of a second: not comparable
    if ticks > 1 then
      local f = count / (share * (now - second))
      if f > 1.5 then f = 1.5 elseif f < 1 / 1.5 then f = 1 / 1.5 end
      d = d * f
      if d > 20 * d0 then d = 20 * d0 elseif d < d0 / 50 then d = d0 / 50 end
    end
    second = now
    count = 0
  end
  count = count + 1
  return math.floor(d * (0.5 + math.random()))
end

local function iso(s)
  return os.date("!%Y-%m-%dT%H:%M:%SZ", s)
end

-- a triangle wave: 0, 1, ..., 1999, 2000, 1999, ... (no jump when it turns)
local function walk(i)
  local m = i % 4000
  if m < 2000 then return m else return 4000 - m end
end

function request()
  g = g + 1
  local dev = owned[(g % #owned) + 1]
  local first = sent[dev] or 0
  sent[dev] = first + batch
  local fixes = {}
  for k = 0, batch - 1 do
    local i = first + k
    local lat = 40.60 + (dev % 50) * 0.001 + walk(i) * 0.00001
    local lon = 122.20 + math.floor(dev / 50) * 0.001
    fixes[#fixes + 1] = string.format('{"seq":%d,"time":"%s","lat":%.6f,"lon":%.6f,"accuracy_m":15}',
      run * 10000000000 + i, iso(base + i), lat, lon)
  end
  local body = '{"fixes":[' .. table.concat(fixes, ",") .. ']}'
  local headers = {}
  headers["Authorization"] = string.format("Bearer %s%05d.%s", prefix, dev, token)
  headers["Content-Type"] = "application/json"
  return wrk.format("POST", "/ingest/v1/fixes", headers, body)
end
