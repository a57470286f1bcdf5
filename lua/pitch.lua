-- pitch.lua: the matching helpers of `require "mixgraph"`: match_tempo, transpose, match_key and
-- align. [control]
--
-- Each takes a `file` or `stretch` source and returns a `stretch` node that plays the same
-- region with the new tempo, pitch or start, under the old node's name and with its outgoing
-- connections; the old node is removed (its gain and varispeed rate carry over). Detection
-- results are cached per file path. Loaded by lua/lpitch.c with the module table M and the C
-- internals C (onsets, outputs, connect, graph_of).
local M, C = ...

local REGION = { "path", "start", "offset", "length", "loop" }
local tempo_cache, key_cache = {}, {}

-- Raise at a position: `level` 1 is the function calling fail, 2 its caller, and so on; helpers
-- pass the level of the patch line that called them. (Helpers must not tail-call functions
-- that fail, or the count would skip past the patch.)
local function fail(level, fmt, ...)
  error(string.format(fmt, ...), level + 1)
end

local function check_source(src, fname)
  local ok, ty = pcall(function() return src.type end)
  if not ok or (ty ~= "file" and ty ~= "stretch") then
    fail(3, "%s: expects a file or stretch node, got %s", fname,
         ok and ty and ("a node of type '" .. ty .. "'") or type(src))
  end
end

local function stretch_of(src)
  if src.type == "stretch" then return src.tempo, src.pitch, src.formant end
  return 1, 0, false
end

-- detect(path) through a per-path cache; a failure is raised at the helper's caller.
local function cached(cache, detect)
  return function(path, fname)
    if not cache[path] then
      local v, why = detect(path)
      if not v then fail(3, "%s: %s", fname, why) end
      cache[path] = v
    end
    return cache[path]
  end
end
local file_tempo = cached(tempo_cache, M.detect_tempo)
local file_key = cached(key_cache, M.detect_key)

-- The options table of a helper (third argument).
local function options(o, fname)
  if o == nil then return {} end
  if type(o) ~= "table" then
    fail(3, "%s: the third argument must be an options table, got %s (wrap a call that "
         .. "returns several values in parentheses)", fname, type(o))
  end
  return o
end

-- A stretch node with src's region and settings, changed by `t`, in src's place: same name,
-- same outgoing connections. The options are tried on a scratch node first, so a bad value
-- leaves the graph as it was.
local function replace(src, t, fname)
  local g = C.graph_of(src)
  local tempo, pitch, formant = stretch_of(src)
  local o = {}
  for _, k in ipairs(REGION) do o[k] = src[k] end
  o.tempo, o.pitch, o.formant = tempo, pitch, formant
  for k, v in pairs(t) do o[k] = v end
  o.gain, o.rate = src.gain, src.rate
  local ok, probe = pcall(g.stretch, g, o)
  if not ok then fail(3, "%s: %s", fname, (tostring(probe):gsub("^pitch%.lua:%d+: ", ""))) end
  probe:remove()
  local name, outs = src.name, C.outputs(src)
  src:remove()
  o.name = name
  local new = g:stretch(o)
  for _, e in ipairs(outs) do C.connect(new, e[2], e[1], e[3]) end
  return new
end

-- match_tempo(source, bpm [, { from = bpm }]) -> stretch node, the source's tempo
function M.match_tempo(src, bpm, opts)
  check_source(src, "match_tempo")
  local from = options(opts, "match_tempo").from
  if type(bpm) ~= "number" or bpm <= 0 then
    fail(2, "match_tempo: bpm must be a positive number, got %s", tostring(bpm))
  end
  local file_bpm = from or file_tempo(src.path, "match_tempo")
  return replace(src, { tempo = bpm / (file_bpm * src.rate) }, "match_tempo"), file_bpm
end

-- transpose(source, semitones) -> stretch node (semitones add to any shift it already has)
function M.transpose(src, semis)
  check_source(src, "transpose")
  if type(semis) ~= "number" then
    fail(2, "transpose: semitones must be a number, got %s", type(semis))
  end
  local _, pitch = stretch_of(src)
  local new = replace(src, { pitch = pitch + semis }, "transpose") -- not a tail call: the
  return new                                                       -- error level counts it
end

-- Semitones in [-6, 5] from pitch class a up to b.
local function nearest(a, b) return (b - a + 6) % 12 - 6 end

-- match_key(source, key [, { from = key }]) -> stretch node, semitones applied, source key
function M.match_key(src, key, opts)
  check_source(src, "match_key")
  local from = options(opts, "match_key").from
  local tt, tm = M.key_parse(tostring(key))
  if not tt then fail(2, "match_key: '%s' is not a key (e.g. \"A minor\", \"F#\", \"Ebm\")", tostring(key)) end
  local detected = from or file_key(src.path, "match_key")
  local st, sm = M.key_parse(detected)
  if not st then fail(2, "match_key: '%s' is not a key", tostring(detected)) end
  if sm ~= tm then -- a transposition keeps the mode: aim at the target's relative key
    tt = tm and (tt + 3) % 12 or (tt + 9) % 12
  end
  local d = nearest(st, tt)
  -- the file's key moves by pitch + 12 log2(rate) in all; set the pitch so that it is d
  local semis = d - 12 * math.log(src.rate, 2)
  return replace(src, { pitch = semis }, "match_key"), d, detected
end

-- The source's onset envelope (C.onsets) and its time map to the graph clock.
local function envelope(src)
  local env, hop, t0 = C.onsets(src.path)
  if not env then fail(3, "align: %s", hop) end
  local speed = select(1, stretch_of(src)) * src.rate
  return { env = env, hop = hop, t0 = t0, speed = speed, start = src.start, offset = src.offset,
           ends = src.start + (#env * hop - src.offset) / speed }
end

-- The envelope sampled every `step` seconds of graph time from 0, n values, mean removed.
local function sample(e, step, n)
  local out, mean = {}, 0
  for i = 1, n do
    local g = (i - 1) * step
    local v = 0
    if g >= e.start then
      local k = (e.offset + (g - e.start) * e.speed - e.t0) / e.hop + 1
      local j = math.floor(k)
      local a, b = e.env[j] or 0, e.env[j + 1] or 0
      v = a + (b - a) * (k - j)
    end
    out[i] = v
    mean = mean + v
  end
  mean = mean / n
  for i = 1, n do out[i] = out[i] - mean end
  return out
end

-- align(source, reference [, { max = 1 }]) -> stretch node, seconds the source was late by
-- (negative: early)
function M.align(src, ref, opts)
  check_source(src, "align")
  check_source(ref, "align")
  local max = options(opts, "align").max or 1
  local step = 0.002
  local er, es = envelope(ref), envelope(src)
  local n = math.floor(math.min(30, er.ends, es.ends + max) / step) -- up to 30 s decide
  if n < 10 then fail(2, "align: the sources are too short to compare") end
  local a, b = sample(er, step, n), sample(es, step, n)
  local m = math.floor(max / step)
  local best, bl, r = -math.huge, 0, {}
  for l = -m, m do -- r[l]: the source late by l steps
    local s = 0
    for i = math.max(1, 1 - l), math.min(n, n - l) do s = s + a[i] * b[i + l] end
    r[l] = s
    if s > best then best, bl = s, l end
  end
  local frac = 0
  if r[bl - 1] and r[bl + 1] then
    local den = r[bl - 1] - 2 * r[bl] + r[bl + 1]
    if den < 0 then frac = 0.5 * (r[bl - 1] - r[bl + 1]) / den end
  end
  local late = (bl + frac) * step
  local start, offset = src.start - late, src.offset
  if start < 0 then -- play from further into the file instead
    offset = offset - start * select(1, stretch_of(src)) * src.rate
    start = 0
  end
  return replace(src, { start = start, offset = offset }, "align"), late
end
