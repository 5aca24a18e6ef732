#include "attach/code_cache.hpp"

#include "attach/python_objects.hpp"

#include <algorithm>
#include <cstring>

namespace profiling::attach {

namespace {
// Beyond this many distinct code objects the cache starts over, which bounds
// memory for programs that generate code endlessly.
constexpr std::size_t kMaxEntries = 200'000;
}  // namespace

CodeCache::CodeCache(MemoryReader& memory, const Layout& layout, std::uint64_t code_type)
    : memory_(memory), layout_(layout), code_type_(code_type) {}

std::optional<CodeCache::Identity> CodeCache::identity_from(const unsigned char* header) const {
    auto pointer_at = [&](Offset at) {
        std::uint64_t value = 0;
        if (at >= 0) std::memcpy(&value, header + at, sizeof value);
        return value;
    };
    // A freed object keeps its header except the first word, where the
    // allocator chains its free blocks (pymalloc: the next block's address
    // in an mmap'd arena, or 0; glibc also overwrites ob_type). A live
    // reference count is never 0 and never reaches bit 32 (3.14 keeps flags
    // in bits 48-63, so only bits 32-47 tell an address).
    const std::uint64_t refcount = pointer_at(0);
    if (refcount == 0 || (refcount >> 32 & 0xFFFF) != 0) return std::nullopt;
    Identity id;
    id.type = pointer_at(layout_.object_type);
    id.filename = pointer_at(layout_.code_filename);
    id.name = pointer_at(layout_.code_name);
    id.qualname = pointer_at(layout_.code_qualname);
    id.linetable = pointer_at(layout_.code_linetable);
    std::memcpy(&id.first_line, header + layout_.code_firstlineno, sizeof id.first_line);
    if (layout_.code_first_traceable != kAbsent) {
        std::memcpy(&id.first_traceable, header + layout_.code_first_traceable, sizeof id.first_traceable);
        std::memcpy(&id.code_units, header + layout_.varobject_size, sizeof id.code_units);
    }
    if (code_type_ != 0 && id.type != code_type_) return std::nullopt;
    if (id.filename == 0 || id.name == 0 || id.first_line < 0) return std::nullopt;
    return id;
}

std::optional<CodeInfo> CodeCache::decode(std::uint64_t address, const Identity& id) {
    CodeInfo info;
    auto name = read_string_object(memory_, layout_, id.name);
    auto file = read_string_object(memory_, layout_, id.filename);
    if (!name || !file) return std::nullopt;
    info.name = std::move(*name);
    info.file = std::move(*file);
    if (layout_.code_qualname != kAbsent) {
        info.qualname = read_string_object(memory_, layout_, id.qualname);
        if (!info.qualname) return std::nullopt;
    }
    info.first_line = id.first_line;
    info.first_traceable_byte = std::int64_t{id.first_traceable} * 2;
    // Python code has at least one instruction (its return) after the RESUME
    // that ends its prologue; a shim ends at (3.12) or before (3.13+: the
    // first traceable unit lies past its end) that RESUME.
    info.is_shim = layout_.code_first_traceable != kAbsent &&
                   id.code_units <= std::int64_t{id.first_traceable} + layout_.resume_code_units;
    if (auto table = read_bytes_object(memory_, layout_, id.linetable)) {
        info.lines = decode_line_table(layout_.line_format, *table, id.first_line);
    }
    // The strings were read after the header: had the code object been freed
    // meanwhile, they could have been freed and reused too (a name from one
    // function, a file from another). Still alive and unchanged now, it held
    // them all along.
    confirm_.resize(layout_.code_object_span());
    if (!memory_.read(address, confirm_.data(), confirm_.size())) return std::nullopt;
    if (identity_from(confirm_.data()) != id) return std::nullopt;
    return info;
}

void CodeCache::trim() {
    retired_.clear();
    if (entries_.size() >= kMaxEntries) {
        entries_.clear();
        ++epoch_;
    }
}

const CodeInfo* CodeCache::resolve_with(std::uint64_t address, const Identity& identity) {
    if (auto it = entries_.find(address); it != entries_.end()) {
        if (it->second.identity == identity) return &it->second.info;
        // The address now holds another code object. The old entry may
        // still be pointed to by this sample's other frames or threads (code
        // is freed and its address reused between two threads' reads): it is
        // set aside, not freed, until the next sample (trim()).
        retired_.push_back(entries_.extract(it));
        ++epoch_;
    }
    auto info = decode(address, identity);
    if (!info) return nullptr;
    info->serial = next_serial_++;
    auto [it, inserted] = entries_.emplace(address, Entry{identity, std::move(*info)});
    return &it->second.info;
}

const CodeInfo* CodeCache::resolve(std::uint64_t address) {
    std::vector<const CodeInfo*> out;
    resolve_all(std::span<const std::uint64_t>(&address, 1), out);
    return out[0];
}

void CodeCache::plan_headers(std::span<const std::uint64_t> addresses,
                             std::vector<MemoryReader::Request>& requests) {
    const std::size_t span = layout_.code_object_span();
    planned_addresses_.assign(addresses.begin(), addresses.end());
    planned_bytes_.resize(span * planned_addresses_.size());
    planned_first_ = requests.size();
    planned_count_ = planned_addresses_.size();
    planned_requests_ = &requests;
    for (std::size_t i = 0; i < planned_count_; ++i) {
        requests.push_back({planned_addresses_[i], planned_bytes_.data() + i * span, span, false});
    }
}

void CodeCache::resolve_all(std::span<const std::uint64_t> addresses, std::vector<const CodeInfo*>& out) {
    // A stack repeats code objects (recursion, loops over the same helpers):
    // check each distinct one once.
    // Consecutive repeats (recursion) are dropped before sorting.
    unique_.clear();
    for (std::size_t i = 0; i < addresses.size(); ++i) {
        if (i == 0 || addresses[i] != addresses[i - 1]) unique_.push_back(addresses[i]);
    }
    std::sort(unique_.begin(), unique_.end());
    unique_.erase(std::unique(unique_.begin(), unique_.end()), unique_.end());
    if (!unique_.empty() && unique_.front() == 0) unique_.erase(unique_.begin());

    // Headers come from the planned read where it has them, else from one
    // batched read of the rest.
    const std::size_t span = layout_.code_object_span();
    std::vector<const unsigned char*>& header = header_at_;
    header.assign(unique_.size(), nullptr);
    headers_.resize(span * unique_.size());
    requests_.clear();
    for (std::size_t i = 0; i < unique_.size(); ++i) {
        if (planned_count_ != 0) {
            auto at = std::lower_bound(planned_addresses_.begin(), planned_addresses_.begin() + planned_count_,
                                       unique_[i]);
            if (at != planned_addresses_.begin() + planned_count_ && *at == unique_[i]) {
                const auto& request = (*planned_requests_)[planned_first_ + static_cast<std::size_t>(at - planned_addresses_.begin())];
                if (request.ok) {
                    header[i] = static_cast<const unsigned char*>(request.out);
                    continue;
                }
            }
        }
        requests_.push_back({unique_[i], headers_.data() + i * span, span, false});
    }
    planned_count_ = 0;
    if (!requests_.empty()) ++late_header_reads_;
    memory_.read_batch(requests_);
    for (const auto& request : requests_) {
        if (request.ok) header[static_cast<std::size_t>(static_cast<unsigned char*>(request.out) - headers_.data()) / span] =
            static_cast<const unsigned char*>(request.out);
    }
    found_.assign(unique_.size(), nullptr);
    for (std::size_t i = 0; i < unique_.size(); ++i) {
        if (!header[i]) continue;
        if (auto identity = identity_from(header[i])) found_[i] = resolve_with(unique_[i], *identity);
    }

    out.assign(addresses.size(), nullptr);
    for (std::size_t i = 0; i < addresses.size(); ++i) {
        // Recursion repeats the previous frame's code: no search for it.
        if (i != 0 && addresses[i] == addresses[i - 1]) {
            out[i] = out[i - 1];
            continue;
        }
        auto at = std::lower_bound(unique_.begin(), unique_.end(), addresses[i]);
        if (at != unique_.end() && *at == addresses[i]) out[i] = found_[static_cast<std::size_t>(at - unique_.begin())];
    }
}

}  // namespace profiling::attach
