// Reading many str and bytes objects at once: two batched reads however
// many there are (first each one's size and kind, then its characters),
// where reading them one by one costs two or three system calls each.
//
// A str read this way also gets its seal: the bytes from its length field to
// its last character, with what CPython fills in lazily (hash, interning
// state, cached UTF-8 or wide copies) zeroed. The same range read again and
// sealed the same way tells whether the address still holds the same
// characters. That is the only sign left when a code object is freed and
// another built in its place with its strings at the same addresses too
// (a loop compiling look-alike code gets exactly that from the allocator):
// every pointer in the new code object equals the old one's.
#pragma once

#include "attach/layouts.hpp"
#include "attach/process_memory.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace profiling::attach {

struct StringSeal {
    std::uint64_t address = 0;          // where the sealed range starts in the target
    std::vector<unsigned char> bytes;   // the range as read, sealed
};

// Seals `size` bytes read at a str's seal address, in place.
void seal_string_range(const Layout& layout, unsigned char* bytes, std::size_t size);

// True when `now` (seal.bytes.size() bytes read at seal.address) holds the
// same string as when the seal was made.
bool seal_holds(const Layout& layout, const StringSeal& seal, const unsigned char* now);

class ObjectBatch {
public:
    explicit ObjectBatch(const Layout& layout) : layout_(layout) {}

    void clear() { objects_.clear(); }
    // Adds a str (or, with `bytes`, a bytes object) to read; an address
    // already added is read once. Returns its index.
    std::size_t add(std::uint64_t address, bool bytes = false);
    // Reads every object added since clear().
    void read(MemoryReader& memory);

    // After read(): the object's value (UTF-8 for a str), or nullopt when
    // it could not be read or is not a plausible object of its kind.
    const std::optional<std::string>& value(std::size_t index) const { return objects_[index].value; }
    // After read(): a str's seal (empty when it has none: not readable, or a
    // legacy string whose characters live elsewhere and are not sealed).
    const StringSeal& seal(std::size_t index) const { return objects_[index].seal; }

private:
    struct Object {
        std::uint64_t address = 0;
        bool bytes = false;
        unsigned char head[24] = {};   // from the length field: length, hash, state
        std::uint64_t data = 0;        // where its characters start (0: unknown)
        std::size_t data_size = 0;
        std::vector<unsigned char> range;   // from the length field to the last character
        std::optional<std::string> value;
        StringSeal seal;
    };
    bool plan_range(Object& object) const;
    void decode(Object& object) const;

    const Layout& layout_;
    std::vector<Object> objects_;
    std::vector<MemoryReader::Request> requests_;
};

}  // namespace profiling::attach
