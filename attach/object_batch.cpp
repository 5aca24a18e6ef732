#include "attach/object_batch.hpp"

#include "attach/python_objects.hpp"

#include <algorithm>
#include <cstring>

namespace profiling::attach {

namespace {

// Both str models and bytes keep their size right after the object header:
// the head read starts there, and so does a seal.
constexpr std::size_t kHeadSize = 20;   // size, hash, state (PEP 393) or ob_sstate (2.7)
constexpr unsigned char kKindBits = 0x7C;   // PEP 393 state: kind (bits 2-4), compact, ascii

Offset size_field(const Layout& layout) {
    return layout.strings == StringModel::Py2Str ? layout.varobject_size : layout.unicode_length;
}

template <typename T>
T load(const unsigned char* at) {
    T value{};
    std::memcpy(&value, at, sizeof value);
    return value;
}

}  // namespace

void seal_string_range(const Layout& layout, unsigned char* bytes, std::size_t size) {
    // The hash, 8 bytes after the size, is computed on first use.
    if (size >= 16) std::memset(bytes + 8, 0, 8);
    if (layout.strings == StringModel::Py2Str) {
        if (size >= 20) std::memset(bytes + 16, 0, 4);   // ob_sstate: interning
        return;
    }
    const auto state = static_cast<std::size_t>(layout.unicode_state - layout.unicode_length);
    if (size < state + 4) return;
    bytes[state] &= kKindBits;   // interning (bits 0-1) and the rest change in place
    std::memset(bytes + state + 1, 0, 3);
    // Between the state and the characters: padding, and the UTF-8 / wide
    // copies CPython caches on demand.
    const auto compact_data = static_cast<std::size_t>(
        ((bytes[state] & 0x40) ? layout.ascii_object_size : layout.compact_object_size) - layout.unicode_length);
    std::memset(bytes + state + 4, 0, std::min(size, compact_data) - (state + 4));
}

bool seal_holds(const Layout& layout, const StringSeal& seal, const unsigned char* now) {
    if (seal.bytes.empty()) return false;
    std::vector<unsigned char> sealed(now, now + seal.bytes.size());
    seal_string_range(layout, sealed.data(), sealed.size());
    return sealed == seal.bytes;
}

std::size_t ObjectBatch::add(std::uint64_t address, bool bytes) {
    for (std::size_t i = 0; i < objects_.size(); ++i) {
        if (objects_[i].address == address && objects_[i].bytes == bytes) return i;
    }
    objects_.push_back(Object{});
    objects_.back().address = address;
    objects_.back().bytes = bytes;
    return objects_.size() - 1;
}

bool ObjectBatch::plan_range(Object& object) const {
    const std::uint64_t from = object.address + static_cast<std::uint64_t>(size_field(layout_));
    const auto size = load<std::int64_t>(object.head);
    if (object.bytes || layout_.strings == StringModel::Py2Str) {
        const std::size_t limit = object.bytes ? kMaxBytesObject : kMaxStringChars;
        if (size < 0 || static_cast<std::size_t>(size) > limit) return false;
        object.data = object.address + static_cast<std::uint64_t>(layout_.bytes_data);
        object.data_size = static_cast<std::size_t>(size);
        object.range.resize(object.data + object.data_size - from);
        return true;
    }
    const auto state = load<std::uint32_t>(object.head + (layout_.unicode_state - layout_.unicode_length));
    // Default builds, 3.3-3.15: kind bits 2-4, compact bit 5, ascii bit 6.
    const unsigned kind = (state >> 2) & 7;
    const bool compact = state & 0x20;
    const bool ascii = state & 0x40;
    if (size < 0 || static_cast<std::size_t>(size) > kMaxStringChars) return false;
    if (kind != 1 && kind != 2 && kind != 4) return false;
    if (ascii && kind != 1) return false;
    object.data_size = static_cast<std::size_t>(size) * kind;
    if (compact) {
        object.data = object.address +
                      static_cast<std::uint64_t>(ascii ? layout_.ascii_object_size : layout_.compact_object_size);
        object.range.resize(object.data + object.data_size - from);
    } else {
        // A legacy string: its characters are elsewhere, behind a pointer
        // read with the header; they are read apart and not sealed.
        object.data = 0;
        object.range.resize(static_cast<std::size_t>(layout_.legacy_unicode_data + 8 - size_field(layout_)));
    }
    return true;
}

void ObjectBatch::decode(Object& object) const {
    const auto from = static_cast<std::size_t>(size_field(layout_));
    const unsigned char* data = object.range.data() + (object.data - object.address - from);
    if (object.bytes) {
        object.value.emplace(reinterpret_cast<const char*>(data), object.data_size);
        return;
    }
    if (layout_.strings == StringModel::Py2Str) {
        object.value = py2_bytes_to_utf8(data, object.data_size);
    } else {
        const auto state = load<std::uint32_t>(object.range.data() + (layout_.unicode_state - layout_.unicode_length));
        const unsigned kind = (state >> 2) & 7;
        object.value = unicode_chars_to_utf8(data, object.data_size / kind, kind, state & 0x40);
    }
    if (object.value) {
        object.seal.address = object.address + from;
        object.seal.bytes = object.range;
        seal_string_range(layout_, object.seal.bytes.data(), object.seal.bytes.size());
    }
}

void ObjectBatch::read(MemoryReader& memory) {
    const auto from = static_cast<std::uint64_t>(size_field(layout_));
    // First each object's size (and kind), ...
    requests_.clear();
    for (Object& object : objects_) {
        if (object.address != 0) requests_.push_back({object.address + from, object.head, kHeadSize, false});
    }
    memory.read_batch(requests_);
    std::vector<Object*> planned;
    for (std::size_t i = 0, r = 0; i < objects_.size(); ++i) {
        Object& object = objects_[i];
        if (object.address == 0) continue;
        if (requests_[r++].ok && plan_range(object)) planned.push_back(&object);
    }
    // ... then, from the size on, everything up to its last character.
    requests_.clear();
    for (Object* object : planned) {
        requests_.push_back({object->address + from, object->range.data(), object->range.size(), false});
    }
    memory.read_batch(requests_);
    for (std::size_t i = 0; i < planned.size(); ++i) {
        Object& object = *planned[i];
        if (!requests_[i].ok) continue;
        // The size read again with the rest must be the one planned for.
        if (std::memcmp(object.range.data(), object.head, 8) != 0) continue;
        if (object.bytes || layout_.strings == StringModel::Py2Str || object.data != 0) {
            decode(object);
            continue;
        }
        // A legacy str: its characters behind the pointer just read.
        const auto state = load<std::uint32_t>(object.range.data() + (layout_.unicode_state - layout_.unicode_length));
        const unsigned kind = (state >> 2) & 7;
        const auto data = load<std::uint64_t>(object.range.data() + (layout_.legacy_unicode_data - size_field(layout_)));
        std::vector<unsigned char> raw(object.data_size);
        if (data == 0 || !memory.read(data, raw.data(), raw.size())) continue;
        object.value = unicode_chars_to_utf8(raw.data(), object.data_size / kind, kind, state & 0x40);
        if (object.value) {
            object.seal.address = object.address + from;
            object.seal.bytes = object.range;
            seal_string_range(layout_, object.seal.bytes.data(), object.seal.bytes.size());
        }
    }
}

}  // namespace profiling::attach
