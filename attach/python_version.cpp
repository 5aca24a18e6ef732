#include "attach/python_version.hpp"

#include <cctype>

namespace profiling::attach {

std::optional<PythonVersion> version_from_hex(std::uint64_t hex) {
    PythonVersion v;
    v.major = static_cast<int>((hex >> 24) & 0xff);
    v.minor = static_cast<int>((hex >> 16) & 0xff);
    v.micro = static_cast<int>((hex >> 8) & 0xff);
    if (v.major != 2 && v.major != 3) return std::nullopt;
    if (v.minor > 99) return std::nullopt;
    return v;
}

namespace {

// Parses digits at `pos`; returns the number of characters consumed.
std::size_t parse_number(std::string_view s, std::size_t pos, int& value) {
    std::size_t start = pos;
    value = 0;
    while (pos < s.size() && pos - start < 3 && std::isdigit(static_cast<unsigned char>(s[pos]))) {
        value = value * 10 + (s[pos] - '0');
        ++pos;
    }
    return pos - start;
}

std::string_view basename(std::string_view path) {
    auto slash = path.rfind('/');
    return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

}  // namespace

std::optional<PythonVersion> find_version_text(std::string_view memory) {
    for (std::size_t i = 1; i + 6 < memory.size(); ++i) {
        char c = memory[i];
        if ((c != '2' && c != '3') || memory[i - 1] != '\0' || memory[i + 1] != '.') continue;
        PythonVersion v;
        v.major = c - '0';
        std::size_t pos = i + 2;
        std::size_t n = parse_number(memory, pos, v.minor);
        if (n == 0 || pos + n >= memory.size() || memory[pos + n] != '.') continue;
        pos += n + 1;
        n = parse_number(memory, pos, v.micro);
        if (n == 0) continue;
        pos += n;
        // optional release tag and '+': "3.13.0rc2+ ("
        while (pos < memory.size() && pos - i < 24 &&
               (std::isalnum(static_cast<unsigned char>(memory[pos])) || memory[pos] == '+')) {
            ++pos;
        }
        if (pos + 1 < memory.size() && memory[pos] == ' ' && memory[pos + 1] == '(') return v;
    }
    return std::nullopt;
}

std::optional<PythonVersion> version_from_filename(std::string_view path) {
    std::string_view name = basename(path);
    for (std::string_view prefix : {"libpython", "python"}) {
        if (name.substr(0, prefix.size()) != prefix) continue;
        std::string_view rest = name.substr(prefix.size());
        PythonVersion v;
        if (rest.size() < 3 || (rest[0] != '2' && rest[0] != '3') || rest[1] != '.') return std::nullopt;
        v.major = rest[0] - '0';
        if (parse_number(rest, 2, v.minor) == 0) return std::nullopt;
        return v;
    }
    return std::nullopt;
}

bool is_libpython_name(std::string_view path) {
    std::string_view name = basename(path);
    return name.substr(0, 9) == "libpython" && name.find(".so") != std::string_view::npos &&
           version_from_filename(name).has_value();
}

}  // namespace profiling::attach
