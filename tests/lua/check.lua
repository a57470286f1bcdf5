-- check.lua: the checks the Lua tests share. `local t = dofile(<dir>/check.lua)`, then
-- t.check(cond, msg), t.near(got, expected, tol, msg [, quiet]) and t.done(name), which prints
-- the summary and exits 0 or 1.
local t = { checks = 0, failures = 0 }

function t.check(cond, msg)
  t.checks = t.checks + 1
  if not cond then
    t.failures = t.failures + 1
    io.stderr:write("FAIL: " .. msg .. "\n")
  end
end

-- |got - expected| <= tol; prints the measured value unless `quiet`.
function t.near(a, b, tol, msg, quiet)
  t.check(type(a) == "number" and math.abs(a - b) <= tol,
          string.format("%s: got %s, expected %.4f +- %g", msg, tostring(a), b, tol))
  if not quiet then
    print(string.format("  %-52s %10.4f (expected %.4f +- %g)", msg, a or 0 / 0, b, tol))
  end
end

function t.done(name)
  print(string.format("%s: %d checks, %d failed", name, t.checks, t.failures))
  os.exit(t.failures == 0 and 0 or 1)
end

return t
