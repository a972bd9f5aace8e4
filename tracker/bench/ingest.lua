-- wrk request generator for POST /ingest/v1/fixes.
-- args: devices token_prefix token batch base_epoch_s run threads storm
-- storm=1: each device steps 25 m in and out across its fence's border on every fix, so every
-- fix changes its alarm (opened, returned inside, left again): the worst case for the history.
-- Each device is driven by one wrk thread and sends like a phone: its fixes numbered
-- consecutively (seq = run*1e10 + i for its i-th fix of the run), one second apart from
-- base_epoch_s, walking about a metre a second. A run's fixes never repeat another run's, so
-- acknowledged counts can be checked against the database. Requests of one device may still
-- overtake each other between connections, as a phone's retries do.
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
  storm = args[8] == "1"
  owned = {}
  for dev = tid, devices - 1, threads do
    owned[#owned + 1] = dev
  end
  sent = {}
  g = 0
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
    if storm then
      lat = 40.60 + (dev % 50) * 0.001 + ((i % 2 == 0) and -0.000225 or 0.000225)
    end
    local lon = 122.20 + math.floor(dev / 50) * 0.001
    fixes[#fixes + 1] = string.format('{"seq":%d,"time":"%s","lat":%.6f,"lon":%.6f,"accuracy_m":%d}',
      run * 10000000000 + i, iso(base + i), lat, lon, storm and 5 or 15)
  end
  local body = '{"fixes":[' .. table.concat(fixes, ",") .. ']}'
  local headers = {}
  headers["Authorization"] = string.format("Bearer %s%05d.%s", prefix, dev, token)
  headers["Content-Type"] = "application/json"
  return wrk.format("POST", "/ingest/v1/fixes", headers, body)
end
