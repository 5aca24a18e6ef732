// A hash map from 64-bit keys to 32-bit values with open addressing: one
// array of 16-byte slots, linear probing, no allocation per entry. clear()
// is O(1) (slots carry the generation they were written in), so a map can
// be refilled on every update without touching all its memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace profiling::tui {

class FlatMap {
public:
    static constexpr std::uint32_t kMissing = UINT32_MAX;

    std::uint32_t find(std::uint64_t key) const {
        if (slots_.empty()) return kMissing;
        for (std::size_t i = slot_of(key);; i = (i + 1) & mask_) {
            const Slot& slot = slots_[i];
            if (slot.generation != generation_) return kMissing;
            if (slot.key == key) return slot.value;
        }
    }

    // The value for `key`, inserting `value` if absent; `inserted` says which.
    std::uint32_t find_or_insert(std::uint64_t key, std::uint32_t value, bool& inserted) {
        if ((size_ + 1) * 2 > slots_.size()) grow();
        for (std::size_t i = slot_of(key);; i = (i + 1) & mask_) {
            Slot& slot = slots_[i];
            if (slot.generation != generation_) {
                slot = Slot{key, value, generation_};
                ++size_;
                inserted = true;
                return value;
            }
            if (slot.key == key) {
                inserted = false;
                return slot.value;
            }
        }
    }

    void clear() {
        size_ = 0;
        if (++generation_ == 0) {   // wrapped: every slot must look empty again
            for (Slot& slot : slots_) slot.generation = 0;
            generation_ = 1;
        }
    }

    // Room for `n` entries without growing.
    void reserve(std::size_t n) {
        while (slots_.size() < 2 * n) grow();
    }

    std::size_t size() const { return size_; }
    std::size_t memory_bytes() const { return slots_.capacity() * sizeof(Slot); }

private:
    struct Slot {
        std::uint64_t key = 0;
        std::uint32_t value = 0;
        std::uint32_t generation = 0;   // the slot holds an entry when this is generation_
    };

    std::size_t slot_of(std::uint64_t key) const {
        return static_cast<std::size_t>((key * 0x9E3779B97F4A7C15ULL) >> shift_);
    }

    void grow() {
        std::vector<Slot> old;
        old.swap(slots_);
        const std::size_t capacity = old.empty() ? 64 : old.size() * 2;
        slots_.assign(capacity, Slot{});
        mask_ = capacity - 1;
        shift_ = 64;
        for (std::size_t c = capacity; c > 1; c >>= 1) --shift_;
        const std::uint32_t live = generation_;
        generation_ = 1;
        size_ = 0;
        for (const Slot& slot : old) {
            if (slot.generation != live) continue;
            for (std::size_t i = slot_of(slot.key);; i = (i + 1) & mask_) {
                if (slots_[i].generation != generation_) {
                    slots_[i] = Slot{slot.key, slot.value, generation_};
                    ++size_;
                    break;
                }
            }
        }
    }

    std::vector<Slot> slots_;
    std::size_t mask_ = 0;
    unsigned shift_ = 64;
    std::size_t size_ = 0;
    std::uint32_t generation_ = 1;
};

}  // namespace profiling::tui
