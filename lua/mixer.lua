-- mixer.lua: a mixing console on top of mixgraph's nodes, in Lua only.
--
-- Runs on the control thread, like every patch. Embedded into the mixgraph module at build
-- time; reached as require("mixgraph").mixer(g).
--
--   local mx = mixgraph.mixer(g)            -- a master bus feeding g.output
--   local verb = mx:bus{ name = "verb", inserts = { g:reverb{ mix = 100 } } }
--   local kick = mx:track{ name = "kick", source = g:file{ path = "kick.wav" },
--                          gain = -3, pan = 0, inserts = { g:highpass{ freq = 40 } },
--                          sends = { { bus = verb, gain = -12 } } }
--   kick.solo = true
--
-- Signal flow of a track (a bus is the same, its source being the sum of what feeds it):
--
--   source -> inserts... -> mute -> [pre-fader sends] -> fader -> [post-fader sends] -> pan -> bus
--
-- Mute and solo work as on a console: mute cuts the channel and its sends (pre and post); when
-- anything is soloed, every track that is not soloed, not feeding a soloed bus and not marked
-- solo_safe is muted. Buses are never muted by someone else's solo, so effect returns stay
-- audible ("solo-safe") and a soloed track is heard with its reverb. Mutes ramp over the gain
-- node's smoothing time, so they do not click.

local M = {}

local SILENT = -144 -- dB: the gain node's silence

local Strip = {}     -- methods shared by tracks and buses
Strip.__index = function(s, k)
  local v = rawget(Strip, k)
  if v ~= nil then return v end
  if k == "gain" then return s.fader.gain end
  if k == "pan" then return s.panner and s.panner.pan or 0 end
  if k == "mute" then return s._mute end
  if k == "solo" then return s._solo end
  return nil
end
Strip.__newindex = function(s, k, v)
  if k == "gain" then
    s.fader.gain = v
  elseif k == "pan" then
    assert(s.panner, "this strip has no pan (it is not stereo-panned)")
    s.panner.pan = v
  elseif k == "mute" then
    s._mute = not not v
    s.mixer:_update()
  elseif k == "solo" then
    s._solo = not not v
    s.mixer:_update()
  else
    rawset(s, k, v)
  end
end

-- Chain nodes a -> b -> c ...; returns the last one.
local function chain(first, list)
  local last = first
  for _, n in ipairs(list or {}) do
    last:to(n)
    last = n
  end
  return last
end

-- Build the common part of a strip: input -> inserts -> mute -> fader -> pan.
local function build(mx, kind, spec)
  local g = mx.g
  local name = spec.name or (kind .. (#mx.strips + 1))
  local s = setmetatable({ mixer = mx, kind = kind, name = name, _mute = false,
                           _solo = false, solo_safe = spec.solo_safe or false,
                           sends = {} }, Strip)
  s.input = spec.input or g:gain{ name = name .. "_in" }
  local last = chain(s.input, spec.inserts)
  s.mute_node = g:gain{ name = name .. "_mute" }
  last:to(s.mute_node)
  s.fader = g:gain{ name = name .. "_fader", gain = spec.gain or 0 }
  s.mute_node:to(s.fader)
  s.out = s.fader
  if spec.pan ~= false then
    s.panner = g:pan{ name = name .. "_pan", pan = spec.pan or 0 }
    s.fader:to(s.panner)
    s.out = s.panner
  end
  mx.strips[#mx.strips + 1] = s
  return s
end

-- Connect a strip's output to a bus (or any node).
local function route(s, dest)
  local target = dest and (dest.input or dest) or nil
  if target then
    s.out:to(target)
    s.dest = dest
  end
end

-- strip:send{ bus = b, gain = dB, pre = false }: a send from before (pre) or after (post)
-- the fader into bus b.
function Strip:send(spec)
  assert(spec.bus and spec.bus.input, "send needs bus = <a bus from mixer:bus>")
  local g = self.mixer.g
  local level = g:gain{ name = string.format("%s_send%d", self.name, #self.sends + 1),
                        gain = spec.gain or 0 }
  local tap = spec.pre and self.mute_node or self.fader
  tap:to(level)
  level:to(spec.bus.input)
  local send = { node = level, bus = spec.bus, pre = spec.pre or false }
  self.sends[#self.sends + 1] = send
  return send
end

-- Does this strip feed (through buses) a soloed bus?
local function feeds_solo(s)
  local d = s.dest
  while d do
    if d._solo then return true end
    d = d.dest
  end
  return false
end

function M.new(g, spec)
  spec = spec or {}
  local mx = { g = g, strips = {} }
  local methods = {}
  -- mixer:track{ source = node, name, gain, pan, mute, solo, solo_safe, inserts = {...},
  --              sends = { {bus = b, gain = dB, pre = bool}, ... }, to = bus }
  function methods:track(t)
    assert(type(t) == "table", "track{...} expects a table")
    assert(t.source, "track needs source = <node>")
    local s = build(self, "track", t)
    t.source:to(s.input)
    route(s, t.to or self.master)
    for _, sd in ipairs(t.sends or {}) do s:send(sd) end
    s._mute, s._solo = t.mute or false, t.solo or false
    self:_update()
    return s
  end
  -- mixer:bus{ name, gain, pan, inserts = {...}, to = bus, solo_safe }: a named sum with its
  -- own chain; connect sources into bus.input, or route tracks and sends to it.
  function methods:bus(b)
    b = b or {}
    local s = build(self, "bus", b)
    route(s, b.to or self.master)
    -- each bus is a stem for `mixgraph render --stems DIR` unless the patch names its own
    self.g:stem(s.out, s.name, { automatic = true })
    self:_update()
    return s
  end
  function methods:_update()
    local any_solo = false
    for _, s in ipairs(self.strips) do any_solo = any_solo or s._solo end
    for _, s in ipairs(self.strips) do
      local muted = s._mute
      if any_solo and s.kind == "track" and not s.solo_safe and not s._solo
         and not feeds_solo(s) then
        muted = true
      end
      s.mute_node.gain = muted and SILENT or 0
    end
  end
  -- mixer:balance({ name = LU, ... } [, seconds]) -> { name = LU reached, ... }
  -- Sets static fader gains so that the named tracks, each heard alone (solo, with its
  -- sends and the master chain), stand at the given loudness relative to one another
  -- (integrated loudness, BS.1770): { kick = 0, bass = -2, pad = -8 }. The track with the
  -- highest value keeps its fader; the others move. Measures by rendering in memory
  -- (g:loudness) `seconds` (default: the graph's length), repeating while compressors make
  -- the result miss by more than 0.1 LU (at most 4 rounds). Errors name silent tracks.
  function methods:balance(want, seconds)
    assert(type(want) == "table", "balance{...} expects a table of track = relative LU")
    local strips, anchor = {}, nil
    for _, s in ipairs(self.strips) do
      if want[s.name] ~= nil then
        assert(s.kind == "track", "balance: '" .. s.name .. "' is a bus, not a track")
        strips[#strips + 1] = s
        if not anchor or want[s.name] > want[anchor.name] then anchor = s end
      end
    end
    for name in pairs(want) do
      local found = false
      for _, s in ipairs(strips) do found = found or s.name == name end
      assert(found, "balance: no track named '" .. tostring(name) .. "'")
    end
    local saved = {}
    for _, s in ipairs(self.strips) do saved[s] = s._solo end
    local function alone(s)
      for _, o in ipairs(self.strips) do o._solo = (o == s) end
      self:_update()
      local l = self.g:loudness(seconds).integrated
      if l == -math.huge then
        for _, o in ipairs(self.strips) do o._solo = saved[o] end
        self:_update()
        error("balance: track '" .. s.name .. "' is silent (nothing above -70 LUFS)", 3)
      end
      return l
    end
    local reached = {}
    for _ = 1, 4 do
      local level = {}
      for _, s in ipairs(strips) do level[s] = alone(s) end
      local worst = 0
      for _, s in ipairs(strips) do
        local err = (want[s.name] - want[anchor.name]) - (level[s] - level[anchor])
        reached[s.name] = level[s] - level[anchor]
        worst = math.max(worst, math.abs(err))
        if s ~= anchor then s.fader.gain = s.fader.gain + err end
      end
      if worst <= 0.1 then break end
    end
    for _, o in ipairs(self.strips) do o._solo = saved[o] end
    self:_update()
    return reached
  end
  setmetatable(mx, { __index = methods })
  -- the master bus: inserts (a mastering chain), fader, to the graph's output
  mx.master = build(mx, "bus", { name = spec.name or "master", gain = spec.gain,
                                  inserts = spec.inserts, pan = false })
  mx.master.out:to(g.output)
  return mx
end

return M
