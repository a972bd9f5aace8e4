-- wrk request generator for POST /ingest/v1/fixes.
-- args: devices token_prefix token batch base_epoch_s run
-- Every fix is unique across runs: per thread a counter g; n = thread*1e9 + g*batch + k;
-- time = base + n microseconds, seq = run*1e10 + n, so neither (device, time) nor
-- (device, seq) ever repeats and acknowledged counts can be checked against the database.
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
  g = 0
end

local function iso(us)
  local s = math.floor(us / 1000000)
  return os.date("!%Y-%m-%dT%H:%M:%S", s) .. string.format(".%06dZ", us % 1000000)
end

function request()
  g = g + 1
  local dev = (tid * 7919 + g) % devices
  local fixes = {}
  for k = 0, batch - 1 do
    local n = tid * 1000000000 + g * batch + k
    local lat = 40.60 + (n % 1000) * 0.0001
    local lon = 122.20 + (n % 777) * 0.0001
    fixes[#fixes + 1] = string.format('{"seq":%d,"time":"%s","lat":%.6f,"lon":%.6f,"accuracy_m":15}', run * 10000000000 + n, iso(base * 1000000 + n), lat, lon)
  end
  local body = '{"fixes":[' .. table.concat(fixes, ",") .. ']}'
  local headers = {}
  headers["Authorization"] = string.format("Bearer %s%05d.%s", prefix, dev, token)
  headers["Content-Type"] = "application/json"
  return wrk.format("POST", "/ingest/v1/fixes", headers, body)
end
