#include "tui/text.hpp"

#include <fmt/format.h>

#include <cwchar>

namespace profiling::tui {

namespace {

// Decodes one code point at text[i]; returns its length in bytes, 0 if the
// bytes there are not valid UTF-8 (overlong, surrogate, truncated, > U+10FFFF).
std::size_t decode(std::string_view text, std::size_t i, char32_t& cp) {
    auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
    unsigned char lead = byte(i);
    std::size_t length;
    char32_t min;
    if (lead < 0x80) {
        cp = lead;
        return 1;
    } else if ((lead & 0xE0) == 0xC0) {
        length = 2, cp = lead & 0x1F, min = 0x80;
    } else if ((lead & 0xF0) == 0xE0) {
        length = 3, cp = lead & 0x0F, min = 0x800;
    } else if ((lead & 0xF8) == 0xF0) {
        length = 4, cp = lead & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (i + length > text.size()) return 0;
    for (std::size_t k = 1; k < length; ++k) {
        if ((byte(i + k) & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (byte(i + k) & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return length;
}

bool is_wide(char32_t cp) {
    return (cp >= 0x1100 && cp <= 0x115F) || (cp >= 0x2E80 && cp <= 0x303E) || (cp >= 0x3041 && cp <= 0x33FF) ||
           (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0xA000 && cp <= 0xA4CF) ||
           (cp >= 0xAC00 && cp <= 0xD7A3) || (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0xFE30 && cp <= 0xFE4F) ||
           (cp >= 0xFF00 && cp <= 0xFF60) || (cp >= 0xFFE0 && cp <= 0xFFE6) || (cp >= 0x1F300 && cp <= 0x1F64F) ||
           (cp >= 0x1F900 && cp <= 0x1F9FF) || (cp >= 0x20000 && cp <= 0x3FFFD);
}

bool is_combining(char32_t cp) {
    return (cp >= 0x0300 && cp <= 0x036F) || (cp >= 0x1AB0 && cp <= 0x1AFF) || (cp >= 0x1DC0 && cp <= 0x1DFF) ||
           (cp >= 0x20D0 && cp <= 0x20FF) || (cp >= 0xFE20 && cp <= 0xFE2F) || cp == 0x200B || cp == 0x200D;
}

}  // namespace

std::string sanitize(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size();) {
        char32_t cp;
        std::size_t n = decode(text, i, cp);
        if (n == 0) {
            out += '?';
            ++i;
        } else if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0)) {
            out += ' ';
            i += n;
        } else {
            out.append(text.substr(i, n));
            i += n;
        }
    }
    return out;
}

int codepoint_width(char32_t cp) {
    if (cp < 0x7F) return cp >= 0x20 ? 1 : 0;
    int w = ::wcwidth(static_cast<wchar_t>(cp));
    if (w >= 0) return w;
    if (is_combining(cp)) return 0;
    return is_wide(cp) ? 2 : 1;
}

std::size_t display_width(std::string_view text) {
    std::size_t width = 0;
    for (std::size_t i = 0; i < text.size();) {
        char32_t cp;
        std::size_t n = decode(text, i, cp);
        if (n == 0) {
            ++width;
            ++i;
            continue;
        }
        width += static_cast<std::size_t>(codepoint_width(cp));
        i += n;
    }
    return width;
}

std::string fit(std::string_view text, std::size_t width, bool unicode) {
    std::string out;
    if (width == 0) return out;
    // Fast path: ASCII that fits.
    std::size_t total = display_width(text);
    if (total <= width) {
        out.reserve(text.size() + (width - total));
        out.append(text);
        out.append(width - total, ' ');
        return out;
    }
    const std::size_t room = width - 1;   // one column for the ellipsis
    std::size_t used = 0;
    for (std::size_t i = 0; i < text.size();) {
        char32_t cp;
        std::size_t n = decode(text, i, cp);
        std::size_t w = n == 0 ? 1 : static_cast<std::size_t>(codepoint_width(cp));
        if (n == 0) n = 1;
        if (used + w > room) break;
        out.append(text.substr(i, n));
        used += w;
        i += n;
    }
    out += unicode ? "\u2026" : "~";
    ++used;
    out.append(width - used, ' ');
    return out;
}

std::string_view clip(std::string_view text, std::size_t width) {
    std::size_t used = 0;
    std::size_t i = 0;
    while (i < text.size()) {
        char32_t cp;
        std::size_t n = decode(text, i, cp);
        std::size_t w = n == 0 ? 1 : static_cast<std::size_t>(codepoint_width(cp));
        if (n == 0) n = 1;
        if (used + w > width) break;
        used += w;
        i += n;
    }
    return text.substr(0, i);
}

std::string align_right(std::string_view text, std::size_t width) {
    std::size_t w = display_width(text);
    if (w >= width) return std::string(text.substr(text.size() > width ? text.size() - width : 0));
    std::string out(width - w, ' ');
    out.append(text);
    return out;
}

std::string format_count(std::uint64_t n) {
    if (n < 10'000'000) return fmt::format("{}", n);
    double v = static_cast<double>(n);
    const char* unit = "M";
    v /= 1e6;
    if (v >= 1000) {
        v /= 1000;
        unit = "G";
    }
    if (v >= 1000) {
        v /= 1000;
        unit = "T";
    }
    return v >= 100 ? fmt::format("{:.0f}{}", v, unit) : fmt::format("{:.1f}{}", v, unit);
}

}  // namespace profiling::tui
