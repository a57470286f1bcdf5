-- check.lua: the checks shared by the Lua test scripts (require "check").
--   local t = require "check"
--   t.check(cond, msg); t.near(a, b, tol, msg); t.done("name")  -- prints, exits 0 or 1
local M = { failures = 0, checks = 0 }

function M.check(cond, msg)
  M.checks = M.checks + 1
  if not cond then
    M.failures = M.failures + 1
    io.stderr:write("FAIL: " .. msg .. "\n")
  end
end

function M.near(a, b, tol, msg)
  M.check(math.abs(a - b) <= tol,
          string.format("%s: got %.5f, expected %.5f +- %g", msg, a, b, tol))
end

function M.done(name)
  print(string.format("%s: %d checks, %d failed", name, M.checks, M.failures))
  os.exit(M.failures == 0 and 0 or 1)
end

return M
