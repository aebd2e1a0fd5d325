"""Lua solutions (multiple-lua)."""

from tests.eval.languages.solutions import Solution

SOLUTIONS = {
    "HumanEval/0": Solution(
        correct="""\
  for i = 1, #numbers do
    for j = i + 1, #numbers do
      if math.abs(numbers[i] - numbers[j]) < threshold then return true end
    end
  end
  return false
end
""",
        wrong="""\
  for i = 2, #numbers do
    if math.abs(numbers[i] - numbers[i - 1]) < threshold then return true end
  end
  return false
end
"""),
    "HumanEval/4": Solution(
        correct="""\
  local sum, total = 0, 0
  for _, x in ipairs(numbers) do sum = sum + x end
  local mean = sum / #numbers
  for _, x in ipairs(numbers) do total = total + math.abs(x - mean) end
  return total / #numbers
end
""",
        wrong="""\
  local sum, total = 0, 0
  for _, x in ipairs(numbers) do sum = sum + x end
  local mean = sum / #numbers
  for _, x in ipairs(numbers) do total = total + math.abs(x - mean) end
  return total / (#numbers - 1)
end
"""),
    "HumanEval/12": Solution(
        correct="""\
  local best = nil
  for _, s in ipairs(strings) do
    if best == nil or #s > #best then best = s end
  end
  return best
end
""",
        wrong="""\
  local best = ""
  for _, s in ipairs(strings) do
    if #s > #best then best = s end
  end
  return best
end
"""),
    "HumanEval/29": Solution(
        correct="""\
  local out = {}
  for _, s in ipairs(strings) do
    if s:sub(1, #prefix) == prefix then table.insert(out, s) end
  end
  return out
end
""",
        wrong="""\
  local out, seen = {}, {}
  for _, s in ipairs(strings) do
    if s:sub(1, #prefix) == prefix and not seen[s] then
      seen[s] = true
      table.insert(out, s)
    end
  end
  return out
end
"""),
    "HumanEval/111": Solution(
        correct="""\
  local counts, most, out = {}, 0, {}
  for w in test:gmatch("%S+") do
    counts[w] = (counts[w] or 0) + 1
    if counts[w] > most then most = counts[w] end
  end
  for k, v in pairs(counts) do
    if v == most then out[k] = v end
  end
  return out
end
""",
        wrong="""\
  local counts = {}
  for w in test:gmatch("%S+") do counts[w] = (counts[w] or 0) + 1 end
  return counts
end
"""),
    # A table with a hole for None.
    "HumanEval/136": Solution(
        correct="""\
  local neg, pos = nil, nil
  for _, x in ipairs(lst) do
    if x < 0 and (neg == nil or x > neg) then neg = x end
    if x > 0 and (pos == nil or x < pos) then pos = x end
  end
  return {neg, pos}
end
""",
        wrong="""\
  local neg, pos = nil, nil
  for _, x in ipairs(lst) do
    if x < 0 and (neg == nil or x > neg) then neg = x end
    if x >= 0 and (pos == nil or x < pos) then pos = x end
  end
  return {neg, pos}
end
"""),
    # The tests tell 3.0 from 3, and Lua 5.4 can too.
    "HumanEval/92": Solution(
        correct="""\
  for _, v in ipairs({x, y, z}) do
    if math.type(v) ~= "integer" then return false end
  end
  return x + y == z or x + z == y or y + z == x
end
""",
        wrong="""\
  for _, v in ipairs({x, y, z}) do
    if v ~= math.floor(v) then return false end
  end
  return x + y == z or x + z == y or y + z == x
end
"""),
}

EARLY_EXIT = """\
  os.exit(0)
end
"""
