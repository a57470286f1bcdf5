-- master.lua: the default mastering chain of `mixgraph master`. Copy it, edit it, and pass
-- your copy with --chain:
--
--   mixgraph master mix.wav -o master.wav --target spotify
--   mixgraph master mix.wav -o master.wav --target -16 --ceiling -1.5 --chain my_master.lua
--
-- An ordinary patch. `mixgraph master` passes the file to master as args.input and the
-- true-peak ceiling (dBTP) as args.ceiling; --set KEY=VALUE adds more (below: low, high,
-- threshold, ratio, drive, width, bass_mono). The loudness loop drives the gain node named
-- "loudness" and reads the limiter named "limiter" (its ceiling is set to the target's):
-- keep those two names, in that order, last in the chain. Everything before them is yours.
--
-- Chain: tonal EQ (low and high shelves) -> glue compressor (slow, gentle, soft knee) ->
-- saturation (tanh, 4x oversampled: rounds off the waveform peaks, so the limiter has less
-- to do) -> stereo width -> loudness gain -> true-peak limiter.

local g, args = ...
assert(args.input, "master.lua: no input (run it through `mixgraph master IN -o OUT`)")

local chain = {
  g:eq{ name = "tone", bands = 2,
        freq1 = 90, gain1 = args.low or 0.5,          -- low shelf, dB
        freq2 = 11000, gain2 = args.high or 1.0 },     -- high shelf, dB
  g:compressor{ name = "glue", threshold = args.threshold or -18, ratio = args.ratio or 1.5,
                attack = 30, release = 250, knee = 6 },
  g:saturate{ name = "warmth", curve = "tanh", drive = args.drive or 2, oversample = "4" },
  g:stereo{ name = "width", width = args.width or 1,  -- side gain: 1 unchanged, 0 mono
            bass_mono = args.bass_mono or 0 },        -- Hz below which the side goes, 0 = off
  g:gain{ name = "loudness" },                        -- set by the loudness loop
  g:limiter{ name = "limiter", ceiling = args.ceiling or -1, release = 80, lookahead = 2 },
}

local last = g:file{ name = "mix", path = args.input }
for _, n in ipairs(chain) do last = last >> n end
local _ = last >> g.output
