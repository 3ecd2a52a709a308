-- wrk script for bench/load.py: chat completion requests, one repeated body or a different body per request.
--
--   wrk -t1 -c32 -d5s --latency -s bench/load.lua http://127.0.0.1:PORT/v1/chat/completions -- MIX KIND START PROMPT
--
-- MIX    repeated: every request sends the same body (prompt "PROMPT0");
--        varied:   request n sends prompt "PROMPT<START+n>", so no two requests of a run share a body.
-- KIND   json (no "stream" field) or stream ("stream": true).
-- START  first counter value; bench/load.py gives each run its own range, so no run repeats another's prompts.
-- PROMPT user message text, already escaped for a JSON string.
-- API    chat (the default: a chat completions body) or responses (a Responses API body, {"model", "input"}).
--
-- At the end it prints one line, "WRK_JSON {...}", with the counts and latency percentiles (microseconds) that
-- bench/load.py reads (wrk's own --latency table is printed above it, for people).

local varied, counter, prefix, suffix, fixed = false, 0, nil, nil, nil

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-bench-0123456789"

function init(args)
  varied = args[1] == "varied"
  local stream = args[2] == "stream"
  counter = tonumber(args[3] or "0")
  local prompt = args[4] or "Write two sentences about lighthouses. #"
  if args[5] == "responses" then
    prefix = '{"model":"gpt-4o-mini","input":"' .. prompt
    suffix = '"' .. (stream and ',"stream":true}' or "}")
  else
    prefix = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"' .. prompt
    suffix = '"}]' .. (stream and ',"stream":true}' or "}")
  end
  fixed = wrk.format(nil, nil, nil, prefix .. "0" .. suffix)
end

function request()
  if varied then
    counter = counter + 1
    return wrk.format(nil, nil, nil, prefix .. string.format("%d", counter) .. suffix)
  end
  return fixed
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,' ..
    '"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
