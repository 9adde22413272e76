-- wrk script of scripts/bench.sh: POSTs one kind of GraphQL request to /graphql.
--
--   BENCH_SCENARIO=NAME [BENCH_IDS_FILE=FILE] [BENCH_TAG=N] wrk -s scripts/bench/graphql.lua URL
--
-- (Environment rather than wrk's script arguments: wrk decides whether request() exists, and so
-- whether each request is built anew, before any thread sees the arguments.) NAME is one of:
--   typename      { __typename }
--   typename_signed_in  the same with the token of BENCH_TOKEN: what checking a token costs
--   user          user(id) for the ids of IDS_FILE (one UUID a line), in turn
--   orders        orders(first: 100) { nodes { ... user { ... } } }
--   orders_only   the same without `user`: what the DataLoader's users RPC adds is the difference
--   update_user   updateUser(id, { fullName }) for the ids of IDS_FILE, in turn
--   create_order  createOrder for the user ids of IDS_FILE, in turn
--   update_order  updateOrder(id, { itemQuantity }) for the order ids of IDS_FILE, in turn, each
--                 time with another quantity, so every update changes the order
--   delete_order  deleteOrder for the order ids of IDS_FILE, each once: the threads (BENCH_THREADS
--                 of them) take turns through the file, so the file must hold more ids than the
--                 run deletes (a missing one answers an error)
--   create_user   createUser with a nickName, cpf and email no other request uses; BENCH_TAG
--                 (0..9) keeps them apart from the other runs of the same benchmark
--
-- A response counts as an error unless its status is 200 and its body has no "errors" member.
-- done() prints one line, `BENCH_JSON {...}`: requests, rps, p50_us, p99_us, mean_us, errors
-- (socket errors, timeouts and failed responses), and the first failed response's body.

local scenario = os.getenv("BENCH_SCENARIO") or "typename"
local ids_file = os.getenv("BENCH_IDS_FILE")
local tag = tonumber(os.getenv("BENCH_TAG") or "1")
local threads_total = tonumber(os.getenv("BENCH_THREADS") or "1")
local static = scenario == "typename" or scenario == "typename_signed_in" or scenario == "orders"
  or scenario == "orders_only"
wrk.method, wrk.path = "POST", "/graphql"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json"
-- BENCH_TOKEN: an admin's token, sent with every request (the API reads nothing signed out).
local token = os.getenv("BENCH_TOKEN")
if token and token ~= "" then wrk.headers["Authorization"] = "Bearer " .. token end

local function read_ids(path)
  local ids = {}
  local file = assert(io.open(path, "r"), "cannot open " .. tostring(path))
  for line in file:lines() do
    if line:match("%S") then ids[#ids + 1] = line:match("^%s*(.-)%s*$") end
  end
  file:close()
  assert(#ids > 0, "no ids in " .. path)
  return ids
end

local function post(body)
  return wrk.format(nil, nil, nil, body)
end

-- Brazilian CPF check digits for a string of 9 digits: the 11-digit CPF.
local function cpf(nine)
  local digits = {}
  for i = 1, 9 do digits[i] = tonumber(nine:sub(i, i)) end
  for _, length in ipairs({ 9, 10 }) do
    local sum = 0
    for i = 1, length do sum = sum + digits[i] * (length + 2 - i) end
    local rest = sum % 11
    digits[length + 1] = rest < 2 and 0 or 11 - rest
  end
  return table.concat(digits)
end

-- Main state: hands each thread its number, and keeps the threads to read their counts.
local threads = {}
function setup(thread)
  thread:set("thread_id", #threads + 1)
  threads[#threads + 1] = thread
end

-- Per thread.
local requests_prebuilt, next_index, counter = nil, 1, 0
errors, first_error = 0, nil

local USER_QUERY = "query($id: UUID!) { user(id: $id) { id nickName fullName email cpf phoneNumber createdAt } }"
local ORDERS_QUERY = "{ orders(first: 100) { nodes { id itemQuantity totalValue user { id nickName fullName email } } } }"
local ORDERS_ONLY_QUERY = "{ orders(first: 100) { nodes { id itemQuantity totalValue } } }"
local UPDATE_USER = "mutation($id: UUID!, $input: UpdateUserInput!) { updateUser(id: $id, input: $input) { id fullName updatedAt } }"
local CREATE_ORDER = "mutation($input: CreateOrderInput!) { createOrder(input: $input) { id totalValue } }"
local UPDATE_ORDER = "mutation($id: UUID!, $input: UpdateOrderInput!) { updateOrder(id: $id, input: $input) { id itemQuantity totalValue } }"
local DELETE_ORDER = "mutation($id: UUID!) { deleteOrder(id: $id) }"
local CREATE_USER = "mutation($input: CreateUserInput!) { createUser(input: $input) { id nickName } }"

function init(_)
  local ids = ids_file and ids_file ~= "" and read_ids(ids_file) or nil
  next_index = (thread_id or 1) * 7 -- threads start at different ids
  if scenario == "typename" or scenario == "typename_signed_in" then
    wrk.body = '{"query":"{ __typename }"}'
  elseif scenario == "orders" then
    wrk.body = '{"query":"' .. ORDERS_QUERY .. '"}'
  elseif scenario == "orders_only" then
    wrk.body = '{"query":"' .. ORDERS_ONLY_QUERY .. '"}'
  elseif scenario == "user" then
    requests_prebuilt = {}
    for i, id in ipairs(ids) do
      requests_prebuilt[i] = post('{"query":"' .. USER_QUERY .. '","variables":{"id":"' .. id .. '"}}')
    end
  elseif scenario == "update_user" or scenario == "create_order" or scenario == "update_order" then
    requests_prebuilt = ids
  elseif scenario == "delete_order" then
    requests_prebuilt = ids
    next_index = (thread_id or 1) - 1
  elseif scenario ~= "create_user" then
    error("unknown scenario " .. tostring(scenario))
  end
end

local function next_of(list)
  next_index = next_index % #list + 1
  return list[next_index]
end

-- Only where the request changes: without a request() wrk builds its one request once.
local function dynamic_request()
  counter = counter + 1
  if scenario == "user" then
    return next_of(requests_prebuilt)
  elseif scenario == "update_user" then
    local id = next_of(requests_prebuilt)
    return post('{"query":"' .. UPDATE_USER .. '","variables":{"id":"' .. id
      .. '","input":{"fullName":"Bench Updated ' .. counter .. '"}}}')
  elseif scenario == "create_order" then
    local id = next_of(requests_prebuilt)
    return post('{"query":"' .. CREATE_ORDER .. '","variables":{"input":{"userId":"' .. id
      .. '","itemDescription":"bench item ' .. counter .. '","itemQuantity":3,"itemPrice":"19.90"}}}')
  elseif scenario == "update_order" then
    local id = next_of(requests_prebuilt)
    return post('{"query":"' .. UPDATE_ORDER .. '","variables":{"id":"' .. id
      .. '","input":{"itemQuantity":' .. ((counter * 7 + (thread_id or 1)) % 997 + 1) .. '}}}')
  elseif scenario == "delete_order" then
    -- Thread t of T deletes ids t, t + T, t + 2T...: each id once in the whole run.
    next_index = next_index + threads_total
    local id = requests_prebuilt[(next_index - 1) % #requests_prebuilt + 1]
    return post('{"query":"' .. DELETE_ORDER .. '","variables":{"id":"' .. id .. '"}}')
  elseif scenario == "create_user" then
    local unique = string.format("%d%02d%06d", tag % 10, thread_id % 100, counter % 1000000)
    local nick = "b" .. unique
    return post('{"query":"' .. CREATE_USER .. '","variables":{"input":{"nickName":"' .. nick
      .. '","fullName":"Bench User ' .. unique .. '","password":"benchmark-password","cpf":"' .. cpf(unique)
      .. '","email":"' .. nick .. '@bench.example.com","phoneNumber":"+55119' .. unique:sub(2) .. '"}}}')
  end
  error("no request for scenario " .. tostring(scenario))
end
if not static then request = dynamic_request end

function response(status, _, body)
  if status ~= 200 or (body and body:find('"errors"', 1, true)) then
    errors = errors + 1
    if not first_error then first_error = status .. " " .. tostring(body):sub(1, 300) end
  end
end

local function json_string(s)
  return '"' .. tostring(s):gsub('[%c"\\]', function(c) return string.format("\\u%04x", c:byte()) end) .. '"'
end

function done(summary, latency, _)
  local failed, sample = 0, nil
  for _, thread in ipairs(threads) do
    failed = failed + (thread:get("errors") or 0)
    sample = sample or thread:get("first_error")
  end
  local e = summary.errors
  local socket_errors = e.connect + e.read + e.write + e.timeout
  local seconds = summary.duration / 1e6
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"rps":%.1f,"p50_us":%d,"p99_us":%d,"mean_us":%.0f,"errors":%d,'
      .. '"socket_errors":%d,"failed_responses":%d,"first_error":%s}\n',
    summary.requests, summary.requests / seconds, latency:percentile(50), latency:percentile(99), latency.mean,
    socket_errors + failed, socket_errors, failed, sample and json_string(sample) or "null"))
end
