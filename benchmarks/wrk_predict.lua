-- wrk script: single-text POST /v1/predict requests, cycling through TEXTS_FILE (one per line).
local texts = {}
local path = os.getenv("TEXTS_FILE")
for line in io.lines(path) do
  if #line > 0 then
    texts[#texts + 1] = line:gsub('\\', '\\\\'):gsub('"', '\\"')
  end
end
local counter = 0

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

request = function()
  counter = counter + 1
  local text = texts[(counter % #texts) + 1]
  return wrk.format(nil, nil, nil, '{"text": "' .. text .. '"}')
end
