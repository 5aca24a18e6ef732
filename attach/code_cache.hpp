// Decoded code objects, cached by address.
//
// A code object's name, file and line table never change, so each is read
// and decoded once. Addresses are reused when code objects are freed, so a
// hit is confirmed by re-reading the object's header (one small read) and
// comparing the fields that identify it.
#pragma once

#include "attach/layouts.hpp"
#include "attach/line_table.hpp"
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
    void drop_planned_headers() { planned_count_ = 0; }

    // How many times resolve_all() had to read headers that were not
    // planned (read after the caller's batch, so later than its frames).
    std::uint64_t late_header_reads() const { return late_header_reads_; }

    // Call between samples: bounds memory for programs that keep generating code.
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
    };

    std::optional<Identity> identity_from(const unsigned char* header) const;
    const CodeInfo* resolve_with(std::uint64_t address, const Identity& identity);
    std::optional<CodeInfo> decode(std::uint64_t address, const Identity& identity);

    MemoryReader& memory_;
    const Layout& layout_;
    std::uint64_t code_type_;
    std::unordered_map<std::uint64_t, Entry> entries_;
    // Entries replaced during the current sample: CodeInfo pointers handed
    // out earlier in it stay valid until trim() (a node keeps its address).
    std::vector<std::unordered_map<std::uint64_t, Entry>::node_type> retired_;
    std::vector<unsigned char> headers_;  // scratch: code headers read in one batch
    std::vector<MemoryReader::Request> requests_;
    std::vector<std::uint64_t> unique_;        // scratch: distinct addresses of one call
    std::vector<unsigned char> planned_bytes_;
    std::vector<std::uint64_t> planned_addresses_;
    std::size_t planned_first_ = 0;            // index of the first planned request in the caller's list
    std::size_t planned_count_ = 0;
    const std::vector<MemoryReader::Request>* planned_requests_ = nullptr;
    std::vector<const CodeInfo*> found_;
    std::vector<unsigned char> confirm_;   // scratch: a header read again after decoding
    std::vector<const unsigned char*> header_at_;   // scratch: each distinct address's header
    std::uint32_t next_serial_ = 1;
    std::uint64_t late_header_reads_ = 0;
    std::uint64_t epoch_ = 0;
};

}  // namespace profiling::attach
