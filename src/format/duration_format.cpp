#include "src/format/duration_format.hpp"

#include <fmt/format.h>

namespace profiling {

std::string format_duration_ns(double ns, bool unicode) {
    if (ns <= 0) return "0";
    struct Scale {
        double divisor;
        const char* unit;
    };
    const Scale scales[] = {{1, "ns"}, {1e3, unicode ? "\u00b5s" : "us"}, {1e6, "ms"}, {1e9, "s"}};
    const Scale* scale = &scales[0];
    for (const Scale& s : scales) {
        // Pick the largest unit the value reaches once rounded to 3 digits.
        if (ns >= s.divisor * 0.9995) scale = &s;
    }
    double v = ns / scale->divisor;
    if (scale->divisor == 1) return fmt::format("{:.0f}{}", v, scale->unit);
    if (v >= 99.95) return fmt::format("{:.0f}{}", v, scale->unit);
    if (v >= 9.995) return fmt::format("{:.1f}{}", v, scale->unit);
    return fmt::format("{:.2f}{}", v, scale->unit);
}

}  // namespace profiling
