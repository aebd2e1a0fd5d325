"""C++ solutions (multiple-cpp). The stop string "\\n}" leaves the closing brace to the tests."""

from tests.eval.languages.solutions import Solution

SOLUTIONS = {
    "HumanEval/0": Solution(
        correct="""\
    for (size_t i = 0; i < numbers.size(); i++)
        for (size_t j = i + 1; j < numbers.size(); j++)
            if (std::abs(numbers[i] - numbers[j]) < threshold) return true;
    return false;""",
        wrong="""\
    for (size_t i = 1; i < numbers.size(); i++)
        if (std::abs(numbers[i] - numbers[i - 1]) < threshold) return true;
    return false;"""),
    "HumanEval/4": Solution(
        correct="""\
    double mean = std::accumulate(numbers.begin(), numbers.end(), 0.0) / numbers.size();
    double total = 0;
    for (double x : numbers) total += std::abs(x - mean);
    return total / numbers.size();""",
        wrong="""\
    double mean = std::accumulate(numbers.begin(), numbers.end(), 0.0) / numbers.size();
    double total = 0;
    for (double x : numbers) total += std::abs(x - mean);
    return total / (numbers.size() - 1);"""),
    # std::optional<std::string>: std::nullopt for None, and "" is not None.
    "HumanEval/12": Solution(
        correct="""\
    if (strings.empty()) return std::nullopt;
    std::string best = strings[0];
    for (auto& s : strings) if (s.size() > best.size()) best = s;
    return best;""",
        wrong="""\
    std::string best;
    for (auto& s : strings) if (s.size() > best.size()) best = s;
    return best;"""),
    # The entry point shares its name with C's strlen.
    "HumanEval/23": Solution(
        correct="""\
    return string.size();""",
        wrong="""\
    return (long)string.size() - 1;"""),
    "HumanEval/29": Solution(
        correct="""\
    std::vector<std::string> out;
    for (auto& s : strings) if (s.rfind(prefix, 0) == 0) out.push_back(s);
    return out;""",
        wrong="""\
    std::vector<std::string> out;
    for (auto& s : strings)
        if (s.rfind(prefix, 0) == 0 && std::find(out.begin(), out.end(), s) == out.end())
            out.push_back(s);
    return out;"""),
    # std::map<std::string, long>.
    "HumanEval/111": Solution(
        correct="""\
    std::map<std::string, long> counts, out;
    std::istringstream words(test);
    std::string w;
    long most = 0;
    while (words >> w) most = std::max(most, ++counts[w]);
    for (auto& kv : counts) if (kv.second == most) out[kv.first] = kv.second;
    return out;""",
        wrong="""\
    std::map<std::string, long> counts;
    std::istringstream words(test);
    std::string w;
    while (words >> w) ++counts[w];
    return counts;"""),
    # std::tuple of std::optional.
    "HumanEval/136": Solution(
        correct="""\
    std::optional<long> neg, pos;
    for (long x : lst) {
        if (x < 0 && (!neg || x > *neg)) neg = x;
        if (x > 0 && (!pos || x < *pos)) pos = x;
    }
    return std::make_tuple(neg, pos);""",
        wrong="""\
    std::optional<long> neg, pos;
    for (long x : lst) {
        if (x < 0 && (!neg || x > *neg)) neg = x;
        if (x >= 0 && (!pos || x < *pos)) pos = x;
    }
    return std::make_tuple(neg, pos);"""),
    # std::variant for Union[int, str] / Union[float, str], inside a std::optional.
    "HumanEval/137": Solution(
        correct="""\
    auto value = [](const auto& v) -> double {
        return std::visit([](const auto& x) -> double {
            if constexpr (std::is_same_v<std::decay_t<decltype(x)>, std::string>) {
                std::string s = x;
                std::replace(s.begin(), s.end(), ',', '.');
                return std::stod(s);
            } else {
                return (double)x;
            }
        }, v);
    };
    if (value(a) == value(b)) return std::nullopt;
    if (value(b) > value(a)) return b;
    if (std::holds_alternative<std::string>(a))
        return std::variant<double, std::string>(std::get<std::string>(a));
    return std::variant<double, std::string>((double)std::get<long>(a));""",
        # Returns b when the two are equal.
        wrong="""\
    return b;"""),
}

EARLY_EXIT = """\
    std::exit(0);"""
