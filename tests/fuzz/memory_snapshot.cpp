#include "tests/fuzz/memory_snapshot.hpp"

#include <cstring>
#include <iterator>

namespace profiling::fuzz {

namespace {

constexpr char kMagic[8] = {'P', 'R', 'F', 'S', 'N', 'A', 'P', '1'};

template <typename T>
void put(std::string& out, T value) {
    char bytes[sizeof(T)];
    std::memcpy(bytes, &value, sizeof(T));
    out.append(bytes, sizeof(T));
}

// Reads a T at `at`, advancing it; false when the bytes run out.
template <typename T>
bool take(std::string_view bytes, std::size_t& at, T& value) {
    if (bytes.size() - at < sizeof(T)) return false;
    std::memcpy(&value, bytes.data() + at, sizeof(T));
    at += sizeof(T);
    return true;
}

}  // namespace

void RecordingMemory::keep(std::uint64_t address, const void* bytes, std::size_t size) {
    if (size == 0 || address + size < address) return;
    std::uint64_t start = address, end = address + size;
    std::string merged;
    // Ranges that overlap or touch [start, end) are folded into one.
    auto it = ranges_.upper_bound(start);
    if (it != ranges_.begin()) {
        auto before = std::prev(it);
        if (before->first + before->second.size() >= start) it = before;
    }
    std::uint64_t new_start = start, new_end = end;
    auto first = it;
    for (; it != ranges_.end() && it->first <= end; ++it) {
        new_start = std::min(new_start, it->first);
        new_end = std::max<std::uint64_t>(new_end, it->first + it->second.size());
    }
    merged.assign(new_end - new_start, '\0');
    for (auto old = first; old != it; ++old) {
        std::memcpy(merged.data() + (old->first - new_start), old->second.data(), old->second.size());
    }
    std::memcpy(merged.data() + (start - new_start), bytes, size);   // the newest bytes win
    ranges_.erase(first, it);
    ranges_.emplace(new_start, std::move(merged));
}

bool RecordingMemory::read(std::uint64_t address, void* out, std::size_t size) {
    if (!live_.read(address, out, size)) return false;
    keep(address, out, size);
    return true;
}

void RecordingMemory::read_batch(std::span<Request> requests) {
    live_.read_batch(requests);
    for (const Request& r : requests) {
        if (r.ok) keep(r.address, r.out, r.size);
    }
}

bool SnapshotMemory::read(std::uint64_t address, void* out, std::size_t size) {
    ++reads_;
    if (size == 0) return true;
    auto it = ranges_.upper_bound(address);
    if (it == ranges_.begin()) return false;
    --it;
    const std::uint64_t offset = address - it->first;
    if (offset >= it->second.size() || it->second.size() - offset < size) return false;
    std::memcpy(out, it->second.data() + offset, size);
    return true;
}

std::string encode_snapshot(const MemorySnapshot& snapshot) {
    std::string out(kMagic, sizeof kMagic);
    const attach::InterpreterLocation& where = snapshot.location;
    put<std::uint8_t>(out, static_cast<std::uint8_t>(where.version.major));
    put<std::uint8_t>(out, static_cast<std::uint8_t>(where.version.minor));
    put<std::uint8_t>(out, static_cast<std::uint8_t>(where.version.micro));
    put<std::uint8_t>(out, 0);
    for (std::uint64_t value : {where.runtime, where.interpreters_head_slot, where.fixed_interpreter,
                                where.current_tstate_slot, where.code_type}) {
        put(out, value);
    }
    put(out, static_cast<std::uint32_t>(snapshot.ranges.size()));
    for (const auto& [address, bytes] : snapshot.ranges) {
        put(out, address);
        put(out, static_cast<std::uint32_t>(bytes.size()));
        out += bytes;
    }
    return out;
}

std::optional<MemorySnapshot> decode_snapshot(std::string_view bytes) {
    if (bytes.size() < sizeof kMagic || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0) return std::nullopt;
    std::size_t at = sizeof kMagic;
    MemorySnapshot snapshot;
    attach::InterpreterLocation& where = snapshot.location;
    std::uint8_t version[4];
    for (std::uint8_t& part : version) {
        if (!take(bytes, at, part)) return std::nullopt;
    }
    where.version = {version[0], version[1], version[2]};
    auto layout = attach::layout_for(where.version);
    if (!layout) return std::nullopt;
    where.layout = *layout;
    for (std::uint64_t* value : {&where.runtime, &where.interpreters_head_slot, &where.fixed_interpreter,
                                 &where.current_tstate_slot, &where.code_type}) {
        if (!take(bytes, at, *value)) return std::nullopt;
    }
    std::uint32_t count = 0;
    if (!take(bytes, at, count)) return std::nullopt;
    for (std::uint32_t i = 0; i < count; ++i) {
        std::uint64_t address = 0;
        std::uint32_t length = 0;
        if (!take(bytes, at, address) || !take(bytes, at, length)) break;
        if (bytes.size() - at < length) length = static_cast<std::uint32_t>(bytes.size() - at);   // cut short
        snapshot.ranges[address] = std::string(bytes.substr(at, length));
        at += length;
    }
    return snapshot;
}

}  // namespace profiling::fuzz
