// Decoded code objects, cached by address.
//
// A code object's name, file and line table never change, so each is read
// and decoded once. Addresses are reused when code objects are freed, so a
// hit is confirmed, in the same batched read as the frames that point to it,
// by the object's header (the fields that identify it) and by the seals of
// its name, qualified name and file (their characters): a loop compiling
// look-alike code gets a new code object with its strings at the very same
// addresses, so only the characters tell it from the old one.
#pragma once

#include "attach/layouts.hpp"
#include "attach/line_table.hpp"
#include "attach/object_batch.hpp"
#include "attach/process_memory.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

namespace profiling::attach {

struct CodeInfo {
    std::uint32_t serial = 0;   // unique per decoded code object, never reused
    std::string name;
    std::optional<std::string> qualname;
    std::string file;
    std::int32_t first_line = 0;
    // 3.11+: bytes of bytecode before the first traceable instruction; a
    // frame whose instruction is still before it has not really started
    // (tracebacks and sys._current_frames() leave it out).
    std::int64_t first_traceable_byte = 0;
    // 3.11+: the interpreter's own code (3.12's `<interpreter trampoline>`
    // in every entry frame, 3.13+'s `__init__` cleanup shim), never Python
    // code: its bytecode ends with its prologue, so it can never run a line.
    // This is CPython's own construction, not a name; such frames are never
    // shown.
    bool is_shim = false;
    std::vector<LineRange> lines;

    std::int32_t line_for(std::int64_t byte_offset) const {
        return line_at(lines, byte_offset, first_line);
    }
};

class CodeCache {
public:
    // `code_type`: address of PyCode_Type in the target (0: not checked).
    CodeCache(MemoryReader& memory, const Layout& layout, std::uint64_t code_type);

    // The code object at `address`, or nullptr when it is not a readable
    // code object (a torn stack, or a freed object). The pointer stays valid
    // until the next call to clear().
    const CodeInfo* resolve(std::uint64_t address);

    // resolve() for many addresses at once: the headers of all of them are
    // read in one batched read. out[i] is the result for addresses[i].
    void resolve_all(std::span<const std::uint64_t> addresses, std::vector<const CodeInfo*>& out);

    // Code headers read ahead, in a batch of the caller's: plan_headers()
    // adds requests for `addresses` (sorted, distinct); resolve_all() then
    // uses whichever of them were read whole instead of reading again.
    void plan_headers(std::span<const std::uint64_t> addresses, std::vector<MemoryReader::Request>& requests);
    void drop_planned_headers() {
        planned_count_ = 0;
        planned_seals_.clear();
    }

    // How many times resolve_all() had to read headers that were not
    // planned (read after the caller's batch, so later than its frames).
    std::uint64_t late_header_reads() const { return late_header_reads_; }

    // Call between samples: bounds memory for programs that keep generating
    // code (the entries used least recently go first).
    void trim();
    void clear() {
        entries_.clear();
        retired_.clear();
        ++epoch_;
    }
    // Changes whenever a CodeInfo handed out may be freed (an entry replaced
    // or the cache emptied): pointers kept across samples are good while it
    // has not changed.
    std::uint64_t epoch() const { return epoch_; }
    std::size_t size() const { return entries_.size(); }
    // At most this many code objects are kept decoded.
    static constexpr std::size_t kMaxEntries = 16384;

private:
    struct Identity {
        std::uint64_t type = 0, filename = 0, name = 0, qualname = 0, linetable = 0;
        std::int32_t first_line = 0;
        std::int32_t first_traceable = 0;
        std::int64_t code_units = 0;   // ob_size: the bytecode's length (3.11+)
        bool operator==(const Identity&) const = default;
    };
    struct Entry {
        Identity identity;
        CodeInfo info;
        std::vector<StringSeal> seals;   // name, qualname, file (each object once)
        std::uint64_t used = 0;          // the sample it was last used in
    };
    // A seal's range, read in a batch (planned or late).
    struct SealRead {
        std::uint64_t address = 0;
        std::size_t size = 0;
        std::size_t offset = 0;    // in its bytes buffer
        std::size_t request = 0;   // in its request list
    };

    std::optional<Identity> identity_from(const unsigned char* header) const;
    void add_seal_reads(const Entry& entry, std::vector<SealRead>& reads) const;
    static void place_seal_reads(std::vector<SealRead>& reads, std::vector<unsigned char>& bytes,
                                 std::vector<MemoryReader::Request>& requests);
    bool seals_hold(const Entry& entry) const;
    void decode_all();

    MemoryReader& memory_;
    const Layout& layout_;
    std::uint64_t code_type_;
    std::unordered_map<std::uint64_t, Entry> entries_;
    // Entries replaced during the current sample: CodeInfo pointers handed
    // out earlier in it stay valid until trim() (a node keeps its address).
    std::vector<std::unordered_map<std::uint64_t, Entry>::node_type> retired_;
    std::uint64_t sample_ = 0;
    ObjectBatch objects_;
    std::vector<SealRead> planned_seals_, late_seals_;
    std::vector<unsigned char> planned_seal_bytes_, late_seal_bytes_;
    // Codes of one resolve_all() to decode: address, identity, index in unique_.
    struct Pending {
        std::uint64_t address = 0;
        Identity identity;
        std::size_t unique = 0;
        std::size_t name = 0, qualname = 0, file = 0, lines = 0;   // in objects_
    };
    std::vector<Pending> pending_;

    std::vector<unsigned char> headers_;  // scratch: code headers read in one batch
    std::vector<MemoryReader::Request> requests_;
    std::vector<std::uint64_t> unique_;        // scratch: distinct addresses of one call
    std::vector<unsigned char> planned_bytes_;
    std::vector<std::uint64_t> planned_addresses_;
    std::size_t planned_first_ = 0;            // index of the first planned request in the caller's list
    std::size_t planned_count_ = 0;
    const std::vector<MemoryReader::Request>* planned_requests_ = nullptr;
    std::vector<const CodeInfo*> found_;
    std::vector<unsigned char> confirm_;   // scratch: headers read again after decoding
    std::vector<const unsigned char*> header_at_;   // scratch: each distinct address's header
    std::uint32_t next_serial_ = 1;
    std::uint64_t late_header_reads_ = 0;
    std::uint64_t epoch_ = 0;
};

}  // namespace profiling::attach
