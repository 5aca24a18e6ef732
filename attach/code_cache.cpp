#include "attach/code_cache.hpp"

#include "attach/python_objects.hpp"

#include <algorithm>
#include <cstring>

namespace profiling::attach {

CodeCache::CodeCache(MemoryReader& memory, const Layout& layout, std::uint64_t code_type)
    : memory_(memory), layout_(layout), code_type_(code_type), objects_(layout) {}

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

void CodeCache::add_seal_reads(const Entry& entry, std::vector<SealRead>& reads) const {
    for (const StringSeal& seal : entry.seals) reads.push_back({seal.address, seal.bytes.size(), 0, 0});
}

void CodeCache::place_seal_reads(std::vector<SealRead>& reads, std::vector<unsigned char>& bytes,
                                 std::vector<MemoryReader::Request>& requests) {
    // Each range once (codes of one module share its file name), by address.
    std::sort(reads.begin(), reads.end(), [](const SealRead& a, const SealRead& b) {
        return a.address != b.address ? a.address < b.address : a.size < b.size;
    });
    reads.erase(std::unique(reads.begin(), reads.end(),
                            [](const SealRead& a, const SealRead& b) { return a.address == b.address && a.size == b.size; }),
                reads.end());
    std::size_t total = 0;
    for (SealRead& read : reads) {
        read.offset = total;
        total += read.size;
    }
    bytes.resize(total);
    for (SealRead& read : reads) {
        read.request = requests.size();
        requests.push_back({read.address, bytes.data() + read.offset, read.size, false});
    }
}

bool CodeCache::seals_hold(const Entry& entry) const {
    auto find = [](const std::vector<SealRead>& reads, const StringSeal& seal) -> const SealRead* {
        auto at = std::lower_bound(reads.begin(), reads.end(), seal.address,
                                   [](const SealRead& r, std::uint64_t a) { return r.address < a; });
        for (; at != reads.end() && at->address == seal.address; ++at) {
            if (at->size == seal.bytes.size()) return &*at;
        }
        return nullptr;
    };
    for (const StringSeal& seal : entry.seals) {
        const unsigned char* now = nullptr;
        if (const SealRead* read = find(late_seals_, seal); read && requests_[read->request].ok) {
            now = late_seal_bytes_.data() + read->offset;
        } else if (const SealRead* planned = find(planned_seals_, seal);
                   planned && planned_requests_ && planned->request < planned_requests_->size() &&
                   (*planned_requests_)[planned->request].ok) {
            now = planned_seal_bytes_.data() + planned->offset;
        }
        if (!now || !seal_holds(layout_, seal, now)) return false;
    }
    return true;
}

void CodeCache::trim() {
    retired_.clear();
    ++sample_;
    if (entries_.size() < kMaxEntries) return;
    // The half used least recently goes: code on some thread's stack is used
    // every sample and stays; generated code that ran once goes first.
    std::vector<std::uint64_t> used;
    used.reserve(entries_.size());
    for (const auto& [address, entry] : entries_) used.push_back(entry.used);
    auto middle = used.begin() + static_cast<std::ptrdiff_t>(used.size() / 2);
    std::nth_element(used.begin(), middle, used.end());
    const std::uint64_t cutoff = *middle;
    for (auto it = entries_.begin(); it != entries_.end();) {
        it = it->second.used < cutoff ? entries_.erase(it) : std::next(it);
    }
    if (entries_.size() >= kMaxEntries) entries_.clear();   // all used alike: start over
    ++epoch_;
}

void CodeCache::decode_all() {
    // Every new code object's strings and line table in two batched reads,
    // then every header once more in a third: still alive and unchanged,
    // each code object held those strings all along (had it been freed
    // meanwhile, its strings could have been reused: a name from one
    // function, a file from another).
    objects_.clear();
    for (Pending& code : pending_) {
        code.name = objects_.add(code.identity.name);
        code.file = objects_.add(code.identity.filename);
        if (layout_.code_qualname != kAbsent) code.qualname = objects_.add(code.identity.qualname);
        code.lines = objects_.add(code.identity.linetable, true);
    }
    objects_.read(memory_);
    const std::size_t span = layout_.code_object_span();
    confirm_.resize(span * pending_.size());
    requests_.clear();
    for (std::size_t i = 0; i < pending_.size(); ++i) {
        requests_.push_back({pending_[i].address, confirm_.data() + i * span, span, false});
    }
    memory_.read_batch(requests_);
    for (std::size_t i = 0; i < pending_.size(); ++i) {
        const Pending& code = pending_[i];
        if (!requests_[i].ok || identity_from(confirm_.data() + i * span) != code.identity) continue;
        const auto& name = objects_.value(code.name);
        const auto& file = objects_.value(code.file);
        if (!name || !file) continue;
        Entry entry;
        entry.identity = code.identity;
        entry.used = sample_;
        CodeInfo& info = entry.info;
        info.name = *name;
        info.file = *file;
        entry.seals.push_back(objects_.seal(code.name));
        if (code.file != code.name) entry.seals.push_back(objects_.seal(code.file));
        if (layout_.code_qualname != kAbsent) {
            info.qualname = objects_.value(code.qualname);
            if (!info.qualname) continue;
            if (code.qualname != code.name && code.qualname != code.file) {
                entry.seals.push_back(objects_.seal(code.qualname));
            }
        }
        bool sealed = true;
        for (const StringSeal& seal : entry.seals) sealed = sealed && !seal.bytes.empty();
        if (!sealed) continue;
        info.first_line = code.identity.first_line;
        info.first_traceable_byte = std::int64_t{code.identity.first_traceable} * 2;
        // Python code has at least one instruction (its return) after the
        // RESUME that ends its prologue; a shim ends at (3.12) or before
        // (3.13+: the first traceable unit lies past its end) that RESUME.
        info.is_shim = layout_.code_first_traceable != kAbsent &&
                       code.identity.code_units <=
                           std::int64_t{code.identity.first_traceable} + layout_.resume_code_units;
        if (const auto& table = objects_.value(code.lines)) {
            std::vector<std::uint8_t> bytes(table->begin(), table->end());
            info.lines = decode_line_table(layout_.line_format, bytes, code.identity.first_line);
        }
        info.serial = next_serial_++;
        if (auto it = entries_.find(code.address); it != entries_.end()) {
            // The address now holds another code object. The old entry may
            // still be pointed to by this sample's other frames or threads
            // (code is freed and its address reused between two threads'
            // reads): it is set aside, not freed, until the next sample.
            retired_.push_back(entries_.extract(it));
            ++epoch_;
        }
        auto [it, inserted] = entries_.emplace(code.address, std::move(entry));
        found_[code.unique] = &it->second.info;
    }
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
    // The strings of those already decoded, to tell them from look-alikes.
    planned_seals_.clear();
    for (std::uint64_t address : planned_addresses_) {
        if (auto it = entries_.find(address); it != entries_.end()) add_seal_reads(it->second, planned_seals_);
    }
    place_seal_reads(planned_seals_, planned_seal_bytes_, requests);
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
    // Headers read late come with the seals of what is cached at their address.
    const std::size_t late_headers = requests_.size();
    late_seals_.clear();
    for (std::size_t r = 0; r < late_headers; ++r) {
        if (auto it = entries_.find(requests_[r].address); it != entries_.end()) {
            add_seal_reads(it->second, late_seals_);
        }
    }
    place_seal_reads(late_seals_, late_seal_bytes_, requests_);
    if (!requests_.empty()) ++late_header_reads_;
    memory_.read_batch(requests_);
    for (std::size_t r = 0; r < late_headers; ++r) {
        const auto& request = requests_[r];
        if (request.ok) header[static_cast<std::size_t>(static_cast<unsigned char*>(request.out) - headers_.data()) / span] =
            static_cast<const unsigned char*>(request.out);
    }
    found_.assign(unique_.size(), nullptr);
    pending_.clear();
    for (std::size_t i = 0; i < unique_.size(); ++i) {
        if (!header[i]) continue;
        auto identity = identity_from(header[i]);
        if (!identity) continue;
        if (auto it = entries_.find(unique_[i]); it != entries_.end() && it->second.identity == *identity &&
                                                 seals_hold(it->second)) {
            it->second.used = sample_;
            found_[i] = &it->second.info;
            continue;
        }
        pending_.push_back(Pending{unique_[i], *identity, i});
    }
    planned_count_ = 0;
    planned_seals_.clear();
    if (!pending_.empty()) decode_all();

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
