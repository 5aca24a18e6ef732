#include "attach/object_repr.hpp"

#include "attach/python_objects.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <vector>

namespace profiling::attach {

namespace {

constexpr std::uint64_t kFlagHeapType = 1u << 9;
constexpr std::size_t kMaxTypeName = 200;
// Ints with more 30-bit digits than this (about 900 decimal digits) are not converted.
constexpr std::int64_t kMaxLongDigits = 100;
constexpr unsigned kDigitBits = 30;
constexpr std::uint64_t kPage = 4096;

std::string address_text(std::uint64_t address) { return fmt::format("{:#x}", address); }

std::string default_repr(const std::string& type, std::uint64_t address) {
    return fmt::format("<{} object at {}>", type, address_text(address));
}

// Characters Python's str.isprintable() rejects, approximated without the
// Unicode database: controls, separators other than the space, format
// characters, surrogates, private use, noncharacters.
bool unprintable(std::uint32_t cp) {
    if (cp < 0x20 || (cp >= 0x7f && cp <= 0xa0) || cp == 0xad) return true;
    if (cp >= 0x2000 && cp <= 0x200f) return cp != 0x2010;
    if ((cp >= 0x2028 && cp <= 0x202f) || (cp >= 0x205f && cp <= 0x206f) || cp == 0x3000) return true;
    if (cp >= 0xd800 && cp <= 0xf8ff) return true;   // surrogates, private use
    if (cp == 0xfeff || (cp >= 0xfff0 && cp <= 0xfffb) || (cp & 0xfffe) == 0xfffe) return true;
    if (cp >= 0xe0000) return true;                   // tags, variation selectors supplement, private use
    return cp == 0x1680 || cp == 0x180e || cp == 0x061c || cp == 0x070f;
}

// Python's choice of quote: ' unless the text has ' and no ".
char quote_for(const std::vector<std::uint32_t>& cps) {
    bool single = false, dbl = false;
    for (std::uint32_t cp : cps) {
        single |= cp == '\'';
        dbl |= cp == '"';
    }
    return single && !dbl ? '"' : '\'';
}

// How the repr of str (3.x), bytes, 2.7 str and 2.7 unicode escape.
enum class Escapes { Str3, Bytes, Unicode27 };

std::string quoted(const std::vector<std::uint32_t>& cps, Escapes escapes) {
    const char quote = quote_for(cps);
    std::string out(1, quote);
    for (std::uint32_t cp : cps) {
        if (cp == quote || cp == '\\') {
            out += '\\';
            out += static_cast<char>(cp);
        } else if (cp == '\t') {
            out += "\\t";
        } else if (cp == '\n') {
            out += "\\n";
        } else if (cp == '\r') {
            out += "\\r";
        } else if (cp >= 0x20 && cp < 0x7f) {
            out += static_cast<char>(cp);
        } else if (escapes == Escapes::Str3 && cp >= 0x7f && !unprintable(cp)) {
            append_utf8(out, cp);
        } else if (cp < 0x100) {
            out += fmt::format("\\x{:02x}", cp);
        } else if (cp < 0x10000) {
            out += fmt::format("\\u{:04x}", cp);
        } else {
            out += fmt::format("\\U{:08x}", cp);
        }
    }
    out += quote;
    return out;
}

std::string cut_note(std::int64_t length, const char* unit) {
    return fmt::format("... ({} {})", length, unit);
}

}  // namespace

std::string python_float_repr(double value) {
    if (std::isnan(value)) return "nan";
    if (std::isinf(value)) return value < 0 ? "-inf" : "inf";
    char buffer[64];
    auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::scientific);
    if (ec != std::errc{}) return "?";
    std::string text(buffer, end);   // "-d.ddde+XX", shortest round trip
    std::string sign;
    if (text[0] == '-') {
        sign = "-";
        text.erase(0, 1);
    }
    const auto e = text.find('e');
    std::string digits = text.substr(0, e);
    digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
    const int exponent = std::stoi(text.substr(e + 1));
    while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
    const int decpt = exponent + 1;   // digits d1 d2 ... mean 0.d1d2... x 10^decpt
    const int n = static_cast<int>(digits.size());
    if (decpt <= -4 || decpt > 16) {
        std::string out = sign + digits.substr(0, 1);
        if (n > 1) out += "." + digits.substr(1);
        return out + fmt::format("e{}{:02d}", exponent < 0 ? '-' : '+', std::abs(exponent));
    }
    if (decpt <= 0) return sign + "0." + std::string(static_cast<std::size_t>(-decpt), '0') + digits;
    if (decpt >= n) return sign + digits + std::string(static_cast<std::size_t>(decpt - n), '0') + ".0";
    return sign + digits.substr(0, static_cast<std::size_t>(decpt)) + "." + digits.substr(static_cast<std::size_t>(decpt));
}

std::string decimal_from_digits(const std::vector<std::uint32_t>& digits, bool negative) {
    std::vector<std::uint32_t> number(digits.rbegin(), digits.rend());   // most significant first
    std::string reversed;
    while (!number.empty()) {
        // Divide by 10^9, collecting the remainder.
        std::uint64_t remainder = 0;
        std::vector<std::uint32_t> quotient;
        for (std::uint32_t digit : number) {
            std::uint64_t current = (remainder << kDigitBits) | digit;
            std::uint32_t q = static_cast<std::uint32_t>(current / 1'000'000'000u);
            remainder = current % 1'000'000'000u;
            if (!quotient.empty() || q != 0) quotient.push_back(q);
        }
        number = std::move(quotient);
        for (int i = 0; i < 9; ++i) {
            reversed += static_cast<char>('0' + remainder % 10);
            remainder /= 10;
            if (number.empty() && remainder == 0) break;
        }
    }
    if (reversed.empty()) reversed = "0";
    if (negative) reversed += '-';
    return std::string(reversed.rbegin(), reversed.rend());
}

ObjectReprReader::ObjectReprReader(MemoryReader& memory, const Layout& layout) : memory_(memory), layout_(layout) {}

std::optional<std::string> ObjectReprReader::c_string(std::uint64_t address, std::size_t max) {
    if (address == 0) return std::nullopt;
    // Never read past the page the name ends on: the next may be unmapped.
    std::string out;
    while (out.size() < max) {
        const std::size_t chunk = std::min<std::uint64_t>(max - out.size(), kPage - (address % kPage));
        std::string block(chunk, '\0');
        if (!memory_.read(address, block.data(), chunk)) return std::nullopt;
        if (auto nul = block.find('\0'); nul != std::string::npos) return out + block.substr(0, nul);
        out += block;
        address += chunk;
    }
    return std::nullopt;   // no end within the bound: not a name
}

const ObjectReprReader::TypeFacts* ObjectReprReader::type_of(std::uint64_t object) {
    std::uint64_t type = 0;
    if (object == 0 || !memory_.read_value(object + layout_.object_type, type) || type == 0) return nullptr;
    auto found = types_.find(type);
    if (found == types_.end()) {
        std::optional<TypeFacts> facts;
        std::uint64_t name = 0, flags = 0;
        if (memory_.read_value(type + layout_.type_name, name) && memory_.read_value(type + layout_.type_flags, flags)) {
            if (auto text = c_string(name, kMaxTypeName)) {
                facts = TypeFacts{*text, flags, (flags & kFlagHeapType) == 0};
            }
        }
        found = types_.emplace(type, std::move(facts)).first;
    }
    return found->second ? &*found->second : nullptr;
}

std::optional<std::string> ObjectReprReader::long_repr(std::uint64_t object) {
    std::uint64_t size_word = 0;
    if (!memory_.read_value(object + layout_.long_size, size_word)) return std::nullopt;
    std::int64_t ndigits = 0;
    bool negative = false;
    if (layout_.int_model == IntModel::TaggedDigits) {
        const auto sign = size_word & 3;
        if (sign == 1) return "0";
        if (sign == 3) return std::nullopt;
        negative = sign == 2;
        ndigits = static_cast<std::int64_t>(size_word >> 3);
    } else {
        const auto size = static_cast<std::int64_t>(size_word);
        negative = size < 0;
        ndigits = negative ? -size : size;
    }
    if (ndigits == 0) return "0";
    if (ndigits > kMaxLongDigits) return fmt::format("<int of about {} digits>", (ndigits * 30 * 3) / 10);
    std::vector<std::uint32_t> digits(static_cast<std::size_t>(ndigits));
    if (!memory_.read(object + layout_.long_digits, digits.data(), digits.size() * 4)) return std::nullopt;
    for (std::uint32_t digit : digits) {
        if (digit >> kDigitBits) return std::nullopt;   // not a long: torn or freed
    }
    return decimal_from_digits(digits, negative);
}

std::optional<std::string> ObjectReprReader::float_repr(std::uint64_t object) {
    double value = 0;
    if (!memory_.read_value(object + layout_.float_value, value)) return std::nullopt;
    return python_float_repr(value);
}

std::optional<ObjectRepr> ObjectReprReader::unicode_repr(std::uint64_t object) {
    std::int64_t length = 0;
    std::uint32_t state = 0;
    if (!memory_.read_value(object + layout_.unicode_length, length) ||
        !memory_.read_value(object + layout_.unicode_state, state) || length < 0) {
        return std::nullopt;
    }
    const unsigned kind = (state >> 2) & 7;
    const bool compact = state & 0x20;
    const bool ascii = state & 0x40;
    if ((kind != 1 && kind != 2 && kind != 4) || (ascii && kind != 1)) return std::nullopt;
    std::uint64_t data = 0;
    if (compact) {
        data = object + static_cast<std::uint64_t>(ascii ? layout_.ascii_object_size : layout_.compact_object_size);
    } else if (!memory_.read_value(object + layout_.legacy_unicode_data, data) || data == 0) {
        return std::nullopt;
    }
    const std::size_t count = std::min<std::size_t>(static_cast<std::size_t>(length), kMaxReprChars);
    std::vector<unsigned char> raw(count * kind);
    if (count > 0 && !memory_.read(data, raw.data(), raw.size())) return std::nullopt;
    std::vector<std::uint32_t> cps(count);
    for (std::size_t i = 0; i < count; ++i) {
        if (kind == 1) cps[i] = raw[i];
        else if (kind == 2) cps[i] = static_cast<std::uint32_t>(raw[2 * i] | (raw[2 * i + 1] << 8));
        else std::memcpy(&cps[i], &raw[4 * i], 4);
        if (cps[i] > 0x10ffff) return std::nullopt;
    }
    ObjectRepr out{"str", quoted(cps, Escapes::Str3), count < static_cast<std::size_t>(length)};
    if (out.truncated) out.repr += cut_note(length, "characters");
    return out;
}

std::optional<ObjectRepr> ObjectReprReader::bytes_repr(std::uint64_t object, const char* prefix) {
    std::int64_t size = 0;
    if (!memory_.read_value(object + layout_.varobject_size, size) || size < 0) return std::nullopt;
    const std::size_t count = std::min<std::size_t>(static_cast<std::size_t>(size), kMaxReprChars);
    std::vector<unsigned char> raw(count);
    if (count > 0 && !memory_.read(object + layout_.bytes_data, raw.data(), count)) return std::nullopt;
    std::vector<std::uint32_t> cps(raw.begin(), raw.end());
    ObjectRepr out{"", prefix + quoted(cps, Escapes::Bytes), count < static_cast<std::size_t>(size)};
    if (out.truncated) out.repr += cut_note(size, "bytes");
    return out;
}

std::optional<ObjectRepr> ObjectReprReader::py2_unicode_repr(std::uint64_t object) {
    std::int64_t length = 0;
    std::uint64_t data = 0;
    if (!memory_.read_value(object + layout_.py2_unicode_length, length) || length < 0 ||
        !memory_.read_value(object + layout_.py2_unicode_data, data) || data == 0) {
        return std::nullopt;
    }
    const std::size_t count = std::min<std::size_t>(static_cast<std::size_t>(length), kMaxReprChars);
    std::vector<std::uint32_t> cps(count);   // Py_UNICODE is UCS-4 in these builds
    if (count > 0 && !memory_.read(data, cps.data(), count * 4)) return std::nullopt;
    ObjectRepr out{"unicode", "u" + quoted(cps, Escapes::Unicode27), count < static_cast<std::size_t>(length)};
    if (out.truncated) out.repr += cut_note(length, "characters");
    return out;
}

ObjectRepr ObjectReprReader::describe(std::uint64_t address) {
    const TypeFacts* type = type_of(address);
    if (!type) return {"?", fmt::format("<unreadable object at {}>", address_text(address)), false};
    const std::string& name = type->name;
    auto fallback = [&] { return ObjectRepr{name, default_repr(name, address), false}; };
    if (!type->builtin) return fallback();
    const bool py2 = layout_.major == 2;
    if (name == "NoneType") return {name, "None", false};
    if (name == "bool") {
        std::int64_t value = 0;
        if (py2) {
            if (!memory_.read_value(address + layout_.int_value, value)) return fallback();
        } else {
            auto text = long_repr(address);
            if (!text) return fallback();
            value = *text != "0";
        }
        return {name, value ? "True" : "False", false};
    }
    if (py2 && name == "int") {
        std::int64_t value = 0;
        if (!memory_.read_value(address + layout_.int_value, value)) return fallback();
        return {name, std::to_string(value), false};
    }
    if ((!py2 && name == "int") || (py2 && name == "long")) {
        auto text = long_repr(address);
        if (!text) return fallback();
        ObjectRepr out{name, *text + (py2 ? "L" : ""), false};
        if (out.repr.size() > kMaxReprChars) {
            out.repr = out.repr.substr(0, kMaxReprChars) + cut_note(static_cast<std::int64_t>(text->size()), "digits");
            out.truncated = true;
        }
        return out;
    }
    if (name == "float") {
        auto text = float_repr(address);
        return text ? ObjectRepr{name, *text, false} : fallback();
    }
    std::optional<ObjectRepr> text;
    if (name == "str") text = py2 ? bytes_repr(address, "") : unicode_repr(address);
    else if (!py2 && name == "bytes") text = bytes_repr(address, "b");
    else if (py2 && name == "unicode") text = py2_unicode_repr(address);
    else return fallback();
    if (!text) return fallback();
    text->type = name;
    return *text;
}

}  // namespace profiling::attach
