// A short, safe repr of an object in the target, read from its memory only
// (the target never runs anything): None, bool, int (2.7 int and long), float,
// str (3.x PEP 393 of every kind; 2.7 str and unicode), bytes exactly as
// Python's repr() writes them, up to a bound; any other object as Python's
// default repr, "<TYPE object at 0xADDRESS>".
//
// Built-in types are recognised by their name and by not being heap types
// (a class named "int" is a heap type), so no symbol is needed (stripped
// interpreters included). Non-ASCII characters Python would escape are
// escaped for the control, separator, format and private-use ranges; a few
// rarer unprintable code points may come out unescaped.
#pragma once

#include "attach/layouts.hpp"
#include "attach/process_memory.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>

namespace profiling::attach {

// The longest str/bytes shown, in characters; longer ones are cut and say
// their length. Ints are shown up to this many digits too.
inline constexpr std::size_t kMaxReprChars = 80;

struct ObjectRepr {
    std::string type;        // "int", "str", "list", ... ("?" when unreadable)
    std::string repr;
    bool truncated = false;
};

class ObjectReprReader {
public:
    ObjectReprReader(MemoryReader& memory, const Layout& layout);

    ObjectRepr describe(std::uint64_t address);

    // The type name of `address`'s type, and whether it is a built-in
    // (non-heap) type of that name; nullopt when unreadable.
    struct TypeFacts {
        std::string name;
        std::uint64_t flags = 0;
        bool builtin = false;   // a static (non-heap) type
    };
    const TypeFacts* type_of(std::uint64_t object);

private:
    std::optional<std::string> long_repr(std::uint64_t object);
    std::optional<std::string> float_repr(std::uint64_t object);
    std::optional<ObjectRepr> unicode_repr(std::uint64_t object);
    std::optional<ObjectRepr> bytes_repr(std::uint64_t object, const char* prefix);
    std::optional<ObjectRepr> py2_unicode_repr(std::uint64_t object);
    std::optional<std::string> c_string(std::uint64_t address, std::size_t max);

    MemoryReader& memory_;
    const Layout& layout_;
    std::unordered_map<std::uint64_t, std::optional<TypeFacts>> types_;
};

// Python's repr() of a float (shortest round-trip digits, exponent outside
// 1e-4 <= |x| < 1e16), e.g. "0.1", "1e+16", "-0.0", "inf", "nan".
std::string python_float_repr(double value);

// The decimal text of a little-endian array of 30-bit digits.
std::string decimal_from_digits(const std::vector<std::uint32_t>& digits, bool negative);

}  // namespace profiling::attach
