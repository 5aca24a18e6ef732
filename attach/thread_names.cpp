#include "attach/thread_names.hpp"

#include "attach/python_objects.hpp"

#include <algorithm>
#include <cstring>
#include <exception>
#include <string_view>
#include <unordered_set>

namespace profiling::attach {

namespace {

// Type flags (the same bits in 2.7 and every 3.x).
constexpr std::uint64_t kFlagInlineValues = 1u << 2;    // 3.13+
constexpr std::uint64_t kFlagManagedDict = 1u << 4;     // 3.11+
constexpr std::uint64_t kFlagHeapType = 1u << 9;
constexpr std::uint64_t kFlagIntSubclass = 1u << 23;    // 2.7
constexpr std::uint64_t kFlagLongSubclass = 1u << 24;
constexpr std::uint64_t kFlagStringSubclass = 1u << 27; // 2.7 str
constexpr std::uint64_t kFlagUnicodeSubclass = 1u << 28;
constexpr std::uint64_t kFlagDictSubclass = 1u << 29;

// Bounds. A dict larger than this is not one we need (sys.modules of a big
// application has a few thousand entries; _active one per thread).
constexpr std::int64_t kMaxDictEntries = 1 << 15;
constexpr std::int64_t kMaxTable27 = 1 << 16;           // 2.7 ma_mask + 1
constexpr std::size_t kMaxTypeSpan = 4096;

// Pre-header words of objects with managed dicts (3.11+).
constexpr std::int64_t kManagedDictOffset = -24;        // 3.11-3.15: the dict (or 3.12: dict-or-values)
constexpr std::int64_t kManagedValuesOffset = -32;      // 3.11: the values pointer

// 3.x long digits.
constexpr unsigned kDigitBits = 30;
constexpr std::uint32_t kDigitMask = (1u << kDigitBits) - 1;

template <typename T>
T load(const unsigned char* block, std::size_t at) {
    T value{};
    std::memcpy(&value, block + at, sizeof(T));
    return value;
}

bool is_power_of_two(std::int64_t n) { return n > 0 && (n & (n - 1)) == 0; }

struct Item {
    std::uint64_t key = 0;
    std::uint64_t value = 0;
};

struct TypeInfo {
    std::uint64_t flags = 0;
    std::int64_t basicsize = 0;
    std::int64_t dictoffset = 0;
    std::uint64_t cached_keys = 0;   // heap types: ht_cached_keys
};

// Object access for one refresh. Caches type information only for its own
// lifetime: types can be freed and their addresses reused between refreshes.
class ObjectReader {
public:
    ObjectReader(MemoryReader& memory, const Layout& layout) : memory_(memory), layout_(layout) {}

    std::optional<TypeInfo> type_of(std::uint64_t object) {
        std::uint64_t type = 0;
        if (object == 0 || !memory_.read_value(object + layout_.object_type, type) || type == 0) {
            return std::nullopt;
        }
        return type_info(type);
    }

    // The value stored under the str `key` in dict `dict` (exact match).
    std::optional<std::uint64_t> dict_lookup(std::uint64_t dict, std::string_view key,
                                             ThreadNames::KeyHint& hint) {
        std::vector<Item> items;
        if (!dict_items(dict, items)) return std::nullopt;
        return find_key(items, key, hint);
    }

    bool dict_items(std::uint64_t dict, std::vector<Item>& out) {
        out.clear();
        auto type = type_of(dict);
        if (!type || !(type->flags & kFlagDictSubclass)) return false;
        if (layout_.dict_model == DictModel::OpenTable27) return table27_items(dict, out);
        std::uint64_t keys = 0, values = 0;
        if (!memory_.read_value(dict + layout_.dict_keys, keys) || keys == 0) return false;
        if (layout_.dict_values != kAbsent && !memory_.read_value(dict + layout_.dict_values, values)) {
            return false;
        }
        return keys_items(keys, values, out);
    }

    // Entries of a PyDictKeysObject; with `values` != 0 the values come from
    // that PyDictValues (split table) instead of the entries.
    bool keys_items(std::uint64_t keys, std::uint64_t values, std::vector<Item>& out) {
        out.clear();
        std::int64_t nentries = 0;
        std::uint64_t entries = 0;
        std::size_t entry_size = 24, key_at = 8, value_at = 16;
        if (layout_.dict_model == DictModel::Compact36) {
            unsigned char header[40];
            if (!memory_.read(keys, header, sizeof header)) return false;
            auto size = load<std::int64_t>(header, 8);
            nentries = load<std::int64_t>(header, 32);
            if (!is_power_of_two(size) || size < 8 || size > (kMaxDictEntries * 2)) return false;
            const std::int64_t width = size <= 0xff ? 1 : size <= 0xffff ? 2 : 4;
            entries = keys + 40 + static_cast<std::uint64_t>(size * width);
            if (nentries < 0 || nentries > size) return false;
        } else if (layout_.dict_model == DictModel::Compact311) {
            unsigned char header[32];
            if (!memory_.read(keys, header, sizeof header)) return false;
            const unsigned log2_size = header[8];
            const unsigned log2_index_bytes = header[9];
            const unsigned kind = header[10];
            nentries = load<std::int64_t>(header, 24);
            if (log2_size < 3 || log2_size > 20) return false;
            if (log2_index_bytes < log2_size || log2_index_bytes > log2_size + 3) return false;
            if (kind > 2) return false;                      // GENERAL, UNICODE, SPLIT
            if (nentries < 0 || nentries > (std::int64_t{1} << log2_size)) return false;
            entries = keys + 32 + (std::uint64_t{1} << log2_index_bytes);
            if (kind != 0) {                                 // {key, value}
                entry_size = 16;
                key_at = 0;
                value_at = 8;
            }
        } else {
            return false;
        }
        if (nentries > kMaxDictEntries) return false;
        const auto count = static_cast<std::size_t>(nentries);
        if (count == 0) return true;

        std::vector<unsigned char> raw(count * entry_size);
        if (!memory_.read(entries, raw.data(), raw.size())) return false;
        std::vector<std::uint64_t> split;
        if (values != 0) {
            std::size_t available = count;
            if (layout_.dict_values_items > 0) {             // 3.13+: {capacity, size, embedded, valid}
                std::uint8_t capacity = 0;
                if (!memory_.read_value(values, capacity)) return false;
                available = std::min<std::size_t>(count, capacity);
            }
            split.resize(available);
            if (available > 0 &&
                !memory_.read(values + static_cast<std::uint64_t>(layout_.dict_values_items), split.data(),
                              available * sizeof(std::uint64_t))) {
                return false;
            }
        }
        out.reserve(count);
        for (std::size_t i = 0; i < count; ++i) {
            Item item;
            item.key = load<std::uint64_t>(raw.data(), i * entry_size + key_at);
            if (values != 0) {
                item.value = i < split.size() ? split[i] : 0;
            } else {
                item.value = load<std::uint64_t>(raw.data(), i * entry_size + value_at);
            }
            if (item.key != 0 && item.value != 0) out.push_back(item);
        }
        return true;
    }

    std::optional<std::uint64_t> find_key(const std::vector<Item>& items, std::string_view key,
                                          ThreadNames::KeyHint& hint) {
        if (hint.address != 0) {
            for (const Item& item : items) {
                if (item.key != hint.address) continue;
                if (hint.checked || str_equals(item.key, key)) {
                    hint.checked = true;
                    return item.value;
                }
                break;
            }
        }
        for (const Item& item : items) {
            if (item.key != hint.address && str_equals(item.key, key)) {
                hint.address = item.key;
                hint.checked = true;
                return item.value;
            }
        }
        return std::nullopt;
    }

    // Whether `object` is a str equal to the ASCII text `key`.
    bool str_equals(std::uint64_t object, std::string_view key) {
        if (object == 0) return false;
        if (layout_.strings == StringModel::Py2Str) {
            const auto data = static_cast<std::size_t>(layout_.bytes_data);
            std::vector<unsigned char> block(data + key.size());
            if (!memory_.read(object, block.data(), block.size())) return false;
            if (load<std::int64_t>(block.data(), static_cast<std::size_t>(layout_.varobject_size)) !=
                static_cast<std::int64_t>(key.size())) {
                return false;
            }
            return std::memcmp(block.data() + data, key.data(), key.size()) == 0;
        }
        // Only compact ASCII strings can equal an ASCII key (str subclasses,
        // which are not compact, are not used as attribute or module names).
        const auto data = static_cast<std::size_t>(layout_.ascii_object_size);
        std::vector<unsigned char> block(data + key.size());
        if (!memory_.read(object, block.data(), block.size())) return false;
        if (load<std::int64_t>(block.data(), static_cast<std::size_t>(layout_.unicode_length)) !=
            static_cast<std::int64_t>(key.size())) {
            return false;
        }
        const auto state = load<std::uint32_t>(block.data(), static_cast<std::size_t>(layout_.unicode_state));
        const bool compact_ascii = (state & 0x20) && (state & 0x40) && ((state >> 2) & 7) == 1;
        return compact_ascii && std::memcmp(block.data() + data, key.data(), key.size()) == 0;
    }

    // A non-negative Python int that fits 64 bits (2.7: int or long).
    std::optional<std::uint64_t> int_value(std::uint64_t object) {
        auto type = type_of(object);
        if (!type) return std::nullopt;
        if (layout_.int_model == IntModel::Py2IntOrLong && (type->flags & kFlagIntSubclass)) {
            std::int64_t value = 0;
            if (!memory_.read_value(object + layout_.int_value, value)) return std::nullopt;
            return static_cast<std::uint64_t>(value);   // 2.7 stores the ident as a C long
        }
        if (!(type->flags & kFlagLongSubclass)) return std::nullopt;
        unsigned char block[8 + 3 * 4];
        if (!memory_.read(object + layout_.long_size, block, 8)) return std::nullopt;
        std::int64_t ndigits = 0;
        if (layout_.int_model == IntModel::TaggedDigits) {
            const auto tag = load<std::uint64_t>(block, 0);
            const auto sign = tag & 3;
            if (sign == 1) return 0;
            if (sign != 0) return std::nullopt;          // negative, or not a tag
            ndigits = static_cast<std::int64_t>(tag >> 3);
        } else {
            ndigits = load<std::int64_t>(block, 0);      // negative for negative numbers
        }
        if (ndigits < 0 || ndigits > 3) return std::nullopt;
        if (ndigits == 0) return 0;
        const auto count = static_cast<std::size_t>(ndigits);
        if (!memory_.read(object + layout_.long_digits, block, count * 4)) return std::nullopt;
        std::uint64_t value = 0;
        for (std::size_t i = count; i-- > 0;) {
            const auto digit = load<std::uint32_t>(block, i * 4);
            if (digit > kDigitMask) return std::nullopt;
            if (i == 2 && digit >= (1u << (64 - 2 * kDigitBits))) return std::nullopt;   // > 64 bits
            value = (value << kDigitBits) | digit;
        }
        return value;
    }

    // The attribute `name` of an ordinary instance (no descriptors, no MRO):
    // the instance's __dict__ or its managed / inline values.
    std::optional<std::uint64_t> instance_attribute(std::uint64_t object, std::string_view name,
                                                    ThreadNames::KeyHint& hint) {
        auto type = type_of(object);
        if (!type) return std::nullopt;
        const bool managed = layout_.instance_dict != InstanceDictModel::DictOffset &&
                             (type->flags & kFlagManagedDict);
        if (!managed) {
            if (type->dictoffset <= 0 || type->dictoffset > (1 << 16)) return std::nullopt;
            std::uint64_t dict = 0;
            if (!memory_.read_value(object + static_cast<std::uint64_t>(type->dictoffset), dict) || dict == 0) {
                return std::nullopt;
            }
            return dict_lookup(dict, name, hint);
        }
        std::uint64_t dict = 0, values = 0;
        switch (layout_.instance_dict) {
            case InstanceDictModel::Managed311: {
                std::uint64_t words[2] = {};   // values at -32, dict at -24
                if (!memory_.read(object + static_cast<std::uint64_t>(kManagedValuesOffset), words, sizeof words)) {
                    return std::nullopt;
                }
                values = words[0];
                dict = words[1];
                break;
            }
            case InstanceDictModel::DictOrValues312: {
                std::uint64_t word = 0;
                if (!memory_.read_value(object + static_cast<std::uint64_t>(kManagedDictOffset), word)) {
                    return std::nullopt;
                }
                if (word & 1) {
                    values = word + 1;   // stored as (PyDictValues*)-1
                } else {
                    dict = word;
                }
                break;
            }
            case InstanceDictModel::InlineValues313: {
                if (!memory_.read_value(object + static_cast<std::uint64_t>(kManagedDictOffset), dict)) {
                    return std::nullopt;
                }
                if (dict == 0 && (type->flags & kFlagInlineValues)) {
                    if (type->basicsize < 16 || type->basicsize > (1 << 16)) return std::nullopt;
                    values = object + static_cast<std::uint64_t>(type->basicsize);
                    std::uint8_t header[4] = {};   // capacity, size, embedded, valid
                    if (!memory_.read(values, header, sizeof header) || header[3] == 0) return std::nullopt;
                }
                break;
            }
            case InstanceDictModel::DictOffset:
                break;
        }
        if (dict != 0) return dict_lookup(dict, name, hint);
        if (values == 0 || type->cached_keys == 0) return std::nullopt;
        std::vector<Item> items;
        if (!keys_items(type->cached_keys, values, items)) return std::nullopt;
        return find_key(items, name, hint);
    }

    // A str value as UTF-8 (2.7: a byte string), bounded.
    std::optional<std::string> str_value(std::uint64_t object) {
        auto type = type_of(object);
        if (!type) return std::nullopt;
        const std::uint64_t wanted =
            layout_.strings == StringModel::Py2Str ? kFlagStringSubclass : kFlagUnicodeSubclass;
        if (!(type->flags & wanted)) return std::nullopt;
        std::int64_t length = 0;
        const Offset length_at = layout_.strings == StringModel::Py2Str ? layout_.varobject_size
                                                                        : layout_.unicode_length;
        if (!memory_.read_value(object + length_at, length) || length < 0 ||
            static_cast<std::size_t>(length) > kMaxThreadNameChars) {
            return std::nullopt;
        }
        return read_string_object(memory_, layout_, object);
    }

private:
    std::optional<TypeInfo> type_info(std::uint64_t type) {
        if (auto found = types_.find(type); found != types_.end()) return found->second;
        std::optional<TypeInfo> info = read_type(type);
        types_.emplace(type, info);
        return info;
    }

    std::optional<TypeInfo> read_type(std::uint64_t type) {
        Offset highest = std::max({layout_.type_flags, layout_.type_basicsize, layout_.type_dictoffset,
                                   layout_.heaptype_cached_keys});
        const auto span = static_cast<std::size_t>(highest) + 8;
        if (highest < 0 || span > kMaxTypeSpan) return std::nullopt;
        // Read the fixed PyTypeObject part first; the heap-type part only for heap types.
        Offset fixed = std::max({layout_.type_flags, layout_.type_basicsize, layout_.type_dictoffset});
        std::vector<unsigned char> block(span);
        if (!memory_.read(type, block.data(), static_cast<std::size_t>(fixed) + 8)) return std::nullopt;
        TypeInfo info;
        info.flags = load<std::uint64_t>(block.data(), static_cast<std::size_t>(layout_.type_flags));
        info.basicsize = load<std::int64_t>(block.data(), static_cast<std::size_t>(layout_.type_basicsize));
        info.dictoffset = load<std::int64_t>(block.data(), static_cast<std::size_t>(layout_.type_dictoffset));
        if ((info.flags & kFlagHeapType) && layout_.heaptype_cached_keys != kAbsent) {
            memory_.read_value(type + layout_.heaptype_cached_keys, info.cached_keys);
        }
        return info;
    }

    MemoryReader& memory_;
    const Layout& layout_;
    std::unordered_map<std::uint64_t, std::optional<TypeInfo>> types_;

    bool table27_items(std::uint64_t dict, std::vector<Item>& out) {
        std::int64_t mask = 0;
        std::uint64_t table = 0;
        if (layout_.dict_mask == kAbsent || !memory_.read_value(dict + layout_.dict_mask, mask) ||
            !memory_.read_value(dict + layout_.dict_keys, table) || table == 0) {
            return false;
        }
        if (mask < 7 || mask + 1 > kMaxTable27 || !is_power_of_two(mask + 1)) return false;
        const auto size = static_cast<std::size_t>(mask + 1);
        std::vector<unsigned char> raw(size * 24);   // {hash, key, value}
        if (!memory_.read(table, raw.data(), raw.size())) return false;
        for (std::size_t i = 0; i < size; ++i) {
            Item item{load<std::uint64_t>(raw.data(), i * 24 + 8), load<std::uint64_t>(raw.data(), i * 24 + 16)};
            if (item.key != 0 && item.value != 0) out.push_back(item);   // dummies have no value
        }
        return true;
    }
};

std::uint64_t mix(std::uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

// Order-independent digest of a thread set.
std::uint64_t fingerprint(const std::vector<ThreadKey>& threads) {
    std::uint64_t sum = 0;
    for (const ThreadKey& key : threads) sum += ThreadKeyHash{}(key);
    return sum;
}

}  // namespace

std::size_t ThreadKeyHash::operator()(const ThreadKey& key) const noexcept {
    return static_cast<std::size_t>(mix(key.interpreter ^ mix(key.thread_id ^ mix(key.thread_state))));
}

ThreadNames::ThreadNames(MemoryReader& memory, const Layout& layout) : memory_(memory), layout_(layout) {}

bool ThreadNames::update(const std::vector<ThreadKey>& threads, Clock::time_point now) {
    bool due = !refreshed_ || now - last_refresh_ >= kRefreshInterval;
    if (!due && now - last_refresh_ >= kChangedInterval) {
        due = threads.size() != thread_count_ || fingerprint(threads) != fingerprint_;
    }
    if (due) refresh(threads, now);
    return due;
}

void ThreadNames::refresh(const std::vector<ThreadKey>& threads, Clock::time_point now) {
    refreshed_ = true;
    last_refresh_ = now;
    ++refreshes_;
    thread_count_ = threads.size();
    fingerprint_ = fingerprint(threads);
    // A name, once read, stays until a read replaces it or the thread is gone:
    // a torn read of a changing dict must not make names flicker.
    auto previous = std::move(names_);
    names_.clear();
    for (const ThreadKey& key : threads) {
        auto old = previous.find(key);
        names_.emplace(key, old != previous.end() ? std::move(old->second) : std::nullopt);
    }
    if (layout_.interp_modules == kAbsent) return;

    threading_hint_.checked = active_hint_.checked = name_hint_.checked = false;
    const std::string_view name_attribute = layout_.major == 2 ? "_Thread__name" : "_name";
    try {
        ObjectReader objects(memory_, layout_);
        std::vector<std::uint64_t> done;   // interpreters already read
        for (const ThreadKey& first : threads) {
            const std::uint64_t interp = first.interpreter;
            if (interp == 0 || std::find(done.begin(), done.end(), interp) != done.end()) continue;
            done.push_back(interp);

            std::unordered_set<std::uint64_t> wanted;
            for (const ThreadKey& key : threads) {
                if (key.interpreter == interp) wanted.insert(key.thread_id);
            }
            std::uint64_t modules = 0;
            if (!memory_.read_value(interp + layout_.interp_modules, modules) || modules == 0) continue;
            auto threading = objects.dict_lookup(modules, "threading", threading_hint_);
            if (!threading) continue;
            std::uint64_t globals = 0;
            if (!memory_.read_value(*threading + layout_.module_dict, globals) || globals == 0) continue;
            auto active = objects.dict_lookup(globals, "_active", active_hint_);
            if (!active) continue;
            std::vector<Item> items;
            if (!objects.dict_items(*active, items)) continue;

            std::unordered_map<std::uint64_t, std::string> found;
            for (const Item& item : items) {
                auto ident = objects.int_value(item.key);
                if (!ident || !wanted.contains(*ident) || found.contains(*ident)) continue;
                if (auto text = objects.instance_attribute(item.value, name_attribute, name_hint_)) {
                    if (auto name = objects.str_value(*text)) found.emplace(*ident, std::move(*name));
                }
            }
            for (const ThreadKey& key : threads) {
                if (key.interpreter != interp) continue;
                if (auto hit = found.find(key.thread_id); hit != found.end()) names_[key] = hit->second;
            }
        }
    } catch (const std::exception&) {
        // Out of memory or similar while reading garbage: keep what we had.
    }
}

const std::string* ThreadNames::find(const ThreadKey& key) const {
    auto found = names_.find(key);
    if (found == names_.end() || !found->second) return nullptr;
    return &*found->second;
}

}  // namespace profiling::attach
