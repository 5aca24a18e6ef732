#include "attach/python_objects.hpp"

#include <cstring>

namespace profiling::attach {

void append_utf8(std::string& out, std::uint32_t cp) {
    if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) cp = 0xFFFD;
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

namespace {

std::optional<std::string> read_py2_string(MemoryReader& memory, const Layout& layout,
                                           std::uint64_t address) {
    std::int64_t size = 0;
    if (!memory.read_value(address + layout.varobject_size, size)) return std::nullopt;
    if (size < 0 || static_cast<std::size_t>(size) > kMaxStringChars) return std::nullopt;
    std::string bytes(static_cast<std::size_t>(size), '\0');
    if (!memory.read(address + layout.bytes_data, bytes.data(), bytes.size())) return std::nullopt;
    return py2_bytes_to_utf8(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
}

std::optional<std::string> read_unicode(MemoryReader& memory, const Layout& layout,
                                        std::uint64_t address) {
    std::int64_t length = 0;
    std::uint32_t state = 0;
    if (!memory.read_value(address + layout.unicode_length, length) ||
        !memory.read_value(address + layout.unicode_state, state)) {
        return std::nullopt;
    }
    if (length < 0 || static_cast<std::size_t>(length) > kMaxStringChars) return std::nullopt;
    // Default builds, 3.3-3.14: kind bits 2-4, compact bit 5, ascii bit 6.
    const unsigned kind = (state >> 2) & 7;
    const bool compact = state & 0x20;
    const bool ascii = state & 0x40;
    if (kind != 1 && kind != 2 && kind != 4) return std::nullopt;
    if (ascii && kind != 1) return std::nullopt;

    std::uint64_t data = 0;
    if (compact) {
        data = address + (ascii ? layout.ascii_object_size : layout.compact_object_size);
    } else if (!memory.read_value(address + layout.legacy_unicode_data, data) || data == 0) {
        return std::nullopt;
    }
    const auto count = static_cast<std::size_t>(length);
    std::vector<unsigned char> raw(count * kind);
    if (!memory.read(data, raw.data(), raw.size())) return std::nullopt;
    return unicode_chars_to_utf8(raw.data(), count, kind, ascii);
}

}  // namespace

std::optional<std::string> py2_bytes_to_utf8(const unsigned char* bytes, std::size_t size) {
    // Python 2 file names and identifiers are byte strings; pass valid UTF-8
    // through and map other bytes as Latin-1 so the output stays valid UTF-8.
    std::string out;
    out.reserve(size);
    for (std::size_t i = 0; i < size;) {
        unsigned char c = bytes[i];
        std::size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        bool valid = len > 0 && i + len <= size;
        for (std::size_t k = 1; valid && k < len; ++k) valid = (bytes[i + k] & 0xC0) == 0x80;
        if (valid) {
            out.append(reinterpret_cast<const char*>(bytes + i), len);
            i += len;
        } else {
            append_utf8(out, c);
            ++i;
        }
    }
    return out;
}

std::optional<std::string> unicode_chars_to_utf8(const unsigned char* raw, std::size_t count, unsigned kind,
                                                 bool ascii) {
    std::string out;
    out.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
        std::uint32_t cp = 0;
        if (kind == 1) {
            cp = raw[i];
        } else if (kind == 2) {
            cp = static_cast<std::uint32_t>(raw[2 * i] | (raw[2 * i + 1] << 8));
        } else {
            std::memcpy(&cp, &raw[4 * i], 4);
        }
        if (ascii && cp >= 0x80) return std::nullopt;   // torn or not a string
        append_utf8(out, cp);
    }
    return out;
}

std::optional<std::string> read_string_object(MemoryReader& memory, const Layout& layout,
                                              std::uint64_t address) {
    if (address == 0) return std::nullopt;
    return layout.strings == StringModel::Py2Str ? read_py2_string(memory, layout, address)
                                                 : read_unicode(memory, layout, address);
}

std::optional<std::vector<std::uint8_t>> read_bytes_object(MemoryReader& memory,
                                                           const Layout& layout,
                                                           std::uint64_t address) {
    if (address == 0) return std::nullopt;
    std::int64_t size = 0;
    if (!memory.read_value(address + layout.varobject_size, size)) return std::nullopt;
    if (size < 0 || static_cast<std::size_t>(size) > kMaxBytesObject) return std::nullopt;
    std::vector<std::uint8_t> bytes(static_cast<std::size_t>(size));
    if (!memory.read(address + layout.bytes_data, bytes.data(), bytes.size())) return std::nullopt;
    return bytes;
}

}  // namespace profiling::attach
