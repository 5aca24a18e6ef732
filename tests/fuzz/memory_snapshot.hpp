// A recorded image of the target memory one walk of the stacks read, so the
// walker can be run again offline (and fuzzed) through the MemoryReader seam.
//
// File layout (little-endian), `.snap`:
//   8 bytes  magic "PRFSNAP1"
//   3 bytes  Python major, minor, micro; 1 byte reserved
//   5 x u64  runtime, interpreters_head_slot, fixed_interpreter,
//            current_tstate_slot, code_type (InterpreterLocation)
//   u32      number of ranges, then per range: u64 address, u32 length, bytes
// The layout is not stored: the replay takes the built-in table for the
// version, as the live reader does.
#pragma once

#include "attach/interpreter_locator.hpp"
#include "attach/process_memory.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace profiling::fuzz {

struct MemorySnapshot {
    attach::InterpreterLocation location;   // pid 0: nothing on /proc is consulted
    std::map<std::uint64_t, std::string> ranges;   // start -> bytes; disjoint, not adjacent when recorded
};

// Every byte the wrapped reader delivered, merged into ranges (later reads
// of the same bytes win).
class RecordingMemory final : public attach::MemoryReader {
public:
    explicit RecordingMemory(attach::MemoryReader& live) : live_(live) {}
    bool read(std::uint64_t address, void* out, std::size_t size) override;
    void read_batch(std::span<Request> requests) override;
    const std::map<std::uint64_t, std::string>& ranges() const { return ranges_; }

private:
    void keep(std::uint64_t address, const void* bytes, std::size_t size);
    attach::MemoryReader& live_;
    std::map<std::uint64_t, std::string> ranges_;
};

// Serves reads from a snapshot: a read succeeds only when one recorded range
// holds all of it, as a live read fails on an unmapped byte.
class SnapshotMemory final : public attach::MemoryReader {
public:
    explicit SnapshotMemory(const std::map<std::uint64_t, std::string>& ranges) : ranges_(ranges) {}
    bool read(std::uint64_t address, void* out, std::size_t size) override;
    std::uint64_t reads() const { return reads_; }

private:
    const std::map<std::uint64_t, std::string>& ranges_;
    std::uint64_t reads_ = 0;
};

std::string encode_snapshot(const MemorySnapshot& snapshot);
// nullopt for bytes that are not a snapshot of a supported version; a
// truncated range list keeps the ranges before the cut.
std::optional<MemorySnapshot> decode_snapshot(std::string_view bytes);

}  // namespace profiling::fuzz
