// Thread names from threading._active, against a synthetic 3.12 heap (the
// real layouts of every version are checked end to end by
// tests/e2e/test_thread_names.py), the refresh policy, and robustness
// against garbage memory for every version's layout.
#include "attach/layouts.hpp"
#include "attach/thread_names.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstring>
#include <iterator>
#include <map>
#include <string>
#include <utility>
#include <vector>

using namespace profiling;
using namespace profiling::attach;
using namespace std::chrono_literals;

namespace {

// Memory made of separately allocated regions; a read must fall inside one.
class FakeMemory final : public MemoryReader {
public:
    bool read(std::uint64_t address, void* out, std::size_t size) override {
        ++reads;
        bytes += size;
        auto it = regions_.upper_bound(address);
        if (it == regions_.begin()) return false;
        --it;
        if (address + size > it->first + it->second.size()) return false;
        std::memcpy(out, it->second.data() + (address - it->first), size);
        return true;
    }

    std::uint64_t alloc(std::size_t size) {
        std::uint64_t at = next_;
        regions_[at].assign(size, 0);
        next_ += (size + 0x100 + 0xfff) & ~std::uint64_t{0xfff};
        return at;
    }

    template <typename T>
    void put(std::uint64_t address, T value) {
        auto it = --regions_.upper_bound(address);
        REQUIRE(address + sizeof(T) <= it->first + it->second.size());
        std::memcpy(it->second.data() + (address - it->first), &value, sizeof(T));
    }

    void put_bytes(std::uint64_t address, const std::string& text) {
        auto it = --regions_.upper_bound(address);
        std::memcpy(it->second.data() + (address - it->first), text.data(), text.size());
    }

    // Overwrites `count` random bytes (random regions, random offsets).
    void corrupt(std::uint64_t seed, int count) {
        std::uint64_t x = seed;
        auto next = [&x] {
            x += 0x9E3779B97F4A7C15ULL;
            std::uint64_t z = x;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
            return z ^ (z >> 31);
        };
        for (int i = 0; i < count; ++i) {
            auto it = regions_.begin();
            std::advance(it, static_cast<std::ptrdiff_t>(next() % regions_.size()));
            if (it->second.empty()) continue;
            it->second[next() % it->second.size()] = static_cast<unsigned char>(next());
        }
    }

    std::size_t reads = 0;
    std::size_t bytes = 0;

private:
    std::map<std::uint64_t, std::vector<unsigned char>> regions_;
    std::uint64_t next_ = 0x100000;
};

// Every read succeeds and returns deterministic pseudo-random bytes.
class GarbageMemory final : public MemoryReader {
public:
    explicit GarbageMemory(std::uint64_t seed) : seed_(seed) {}
    bool read(std::uint64_t address, void* out, std::size_t size) override {
        ++reads;
        bytes += size;
        auto* p = static_cast<unsigned char*>(out);
        for (std::size_t i = 0; i < size; ++i) {
            std::uint64_t x = (address + i) / 8 * 0x9E3779B97F4A7C15ULL ^ seed_;
            x ^= x >> 29;
            x *= 0xBF58476D1CE4E5B9ULL;
            x ^= x >> 32;
            p[i] = static_cast<unsigned char>(x >> (8 * ((address + i) % 8)));
        }
        return true;
    }
    std::size_t reads = 0;
    std::size_t bytes = 0;

private:
    std::uint64_t seed_;
};

constexpr std::uint64_t kHeapType = 1u << 9, kManagedDict = 1u << 4, kLong = 1u << 24,
                        kUnicode = 1u << 28, kDict = 1u << 29;

// Builds CPython 3.12 objects in a FakeMemory.
struct Heap312 {
    FakeMemory memory;
    Layout layout = *layout_for(PythonVersion{3, 12, 1});
    std::uint64_t dict_type = type(kDict);
    std::uint64_t str_type = type(kUnicode);
    std::uint64_t int_type = type(kLong);
    std::uint64_t module_type = type(0);

    std::uint64_t type(std::uint64_t flags, std::int64_t basicsize = 16, std::int64_t dictoffset = 0,
                       std::uint64_t cached_keys = 0) {
        std::uint64_t t = memory.alloc(1024);
        memory.put(t + layout.type_flags, flags);
        memory.put(t + layout.type_basicsize, basicsize);
        memory.put(t + layout.type_dictoffset, dictoffset);
        memory.put(t + layout.heaptype_cached_keys, cached_keys);
        return t;
    }

    std::uint64_t str(const std::string& ascii) {
        std::uint64_t s = memory.alloc(40 + ascii.size() + 1);
        memory.put(s + 8, str_type);
        memory.put<std::int64_t>(s + 16, static_cast<std::int64_t>(ascii.size()));
        memory.put<std::uint32_t>(s + 32, (1u << 2) | 0x20 | 0x40);   // kind 1, compact, ascii
        memory.put_bytes(s + 40, ascii);
        return s;
    }

    std::uint64_t integer(std::uint64_t value) {
        std::vector<std::uint32_t> digits;
        for (std::uint64_t v = value; v != 0; v >>= 30) digits.push_back(static_cast<std::uint32_t>(v & 0x3fffffff));
        std::uint64_t n = memory.alloc(24 + 4 * digits.size() + 4);
        memory.put(n + 8, int_type);
        memory.put<std::uint64_t>(n + 16, digits.empty() ? 1 : digits.size() << 3);
        for (std::size_t i = 0; i < digits.size(); ++i) memory.put(n + 24 + 4 * i, digits[i]);
        return n;
    }

    // A PyDictKeysObject; kind 0 general {hash, key, value}, 1 unicode / 2 split {key, value}.
    std::uint64_t keys(const std::vector<std::pair<std::uint64_t, std::uint64_t>>& items, int kind) {
        std::uint8_t log2_size = 3;
        while ((std::size_t{1} << log2_size) * 2 / 3 < items.size()) ++log2_size;
        const std::size_t entry = kind == 0 ? 24 : 16;
        std::uint64_t k = memory.alloc(32 + (std::size_t{1} << log2_size) + entry * items.size());
        memory.put<std::int64_t>(k, 1);
        memory.put<std::uint8_t>(k + 8, log2_size);
        memory.put<std::uint8_t>(k + 9, log2_size);   // 1-byte indices
        memory.put<std::uint8_t>(k + 10, static_cast<std::uint8_t>(kind));
        memory.put<std::int64_t>(k + 24, static_cast<std::int64_t>(items.size()));
        std::uint64_t entries = k + 32 + (std::uint64_t{1} << log2_size);
        for (std::size_t i = 0; i < items.size(); ++i) {
            std::uint64_t at = entries + i * entry + (kind == 0 ? 8 : 0);
            memory.put(at, items[i].first);
            memory.put(at + 8, kind == 2 ? std::uint64_t{0} : items[i].second);
        }
        return k;
    }

    std::uint64_t dict(const std::vector<std::pair<std::uint64_t, std::uint64_t>>& items, int kind,
                       std::uint64_t values = 0) {
        std::uint64_t d = memory.alloc(48);
        memory.put(d + 8, dict_type);
        memory.put<std::int64_t>(d + 16, static_cast<std::int64_t>(items.size()));
        memory.put(d + layout.dict_keys, keys(items, kind));
        memory.put(d + layout.dict_values, values);
        return d;
    }

    // An instance with a managed dict: `word` is stored in the pre-header at -24.
    std::uint64_t instance(std::uint64_t type_object, std::uint64_t word) {
        std::uint64_t base = memory.alloc(64);
        std::uint64_t object = base + 32;
        memory.put(object - 24, word);
        memory.put(object + 8, type_object);
        return object;
    }

    std::uint64_t values(const std::vector<std::uint64_t>& items) {
        std::uint64_t v = memory.alloc(8 * items.size() + 8);
        for (std::size_t i = 0; i < items.size(); ++i) memory.put(v + 8 * i, items[i]);
        return v;
    }
};

// interp -> modules {"sys", "threading"} -> md_dict {"__name__", "_active"} ->
// {id_a: Thread with split values, id_b: Thread with its own dict}.
struct Scenario {
    Heap312 heap;
    std::uint64_t interp = 0;
    std::uint64_t thread_values = 0;   // thread A's values array: [_target, _name]
    static constexpr std::uint64_t id_a = 0x7f1234567000, id_b = 0x7f12345ff6c0, id_c = 0x7f0000001000;

    Scenario() {
        auto& h = heap;
        std::uint64_t name_key = h.str("_name");
        std::uint64_t shared = h.keys({{h.str("_target"), 0}, {name_key, 0}}, 2);
        std::uint64_t thread_type = h.type(kHeapType | kManagedDict, 16, -1, shared);
        thread_values = h.values({h.str("target"), h.str("worker-3")});
        std::uint64_t thread_a = h.instance(thread_type, thread_values - 1);   // 3.12: values - 1
        std::uint64_t own = h.dict({{h.str("_daemonic"), h.str("x")}, {name_key, h.str("MainThread")}}, 1);
        std::uint64_t thread_b = h.instance(thread_type, own);
        std::uint64_t active = h.dict({{h.integer(id_a), thread_a}, {h.integer(id_b), thread_b}}, 0);
        std::uint64_t globals = h.dict({{h.str("__name__"), h.str("threading")}, {h.str("_active"), active}}, 1);
        std::uint64_t module = h.memory.alloc(32);
        h.memory.put(module + 8, h.module_type);
        h.memory.put(module + h.layout.module_dict, globals);
        std::uint64_t modules = h.dict({{h.str("sys"), h.str("not a module")}, {h.str("threading"), module}}, 1);
        interp = h.memory.alloc(static_cast<std::size_t>(h.layout.interp_modules) + 8);
        h.memory.put(interp + h.layout.interp_modules, modules);
    }

    std::vector<ThreadKey> keys(bool with_c = true) const {
        std::vector<ThreadKey> k = {{interp, id_a, 0x1000}, {interp, id_b, 0x2000}};
        if (with_c) k.push_back({interp, id_c, 0x3000});
        return k;
    }
};

}  // namespace

TEST_CASE("thread names come from threading._active (3.12 layout)", "[names]") {
    Scenario s;
    ThreadNames names(s.heap.memory, s.heap.layout);
    auto keys = s.keys();
    names.refresh(keys);
    CHECK(names.name_of(keys[0]) == std::optional<std::string>("worker-3"));   // split values
    CHECK(names.name_of(keys[1]) == std::optional<std::string>("MainThread")); // own dict
    CHECK_FALSE(names.name_of(keys[2]));                                        // not in _active
    CHECK_FALSE(names.name_of({s.interp, Scenario::id_a, 0x9999}));            // unknown tstate
}

TEST_CASE("thread names are re-read every second or when the thread set changes", "[names]") {
    Scenario s;
    ThreadNames names(s.heap.memory, s.heap.layout);
    const auto t0 = ThreadNames::Clock::time_point{} + 1h;
    auto two = s.keys(false);
    CHECK(names.update(two, t0));
    CHECK(names.refresh_count() == 1);

    // A rename is picked up at the next periodic refresh, not before.
    s.heap.memory.put(s.thread_values + 8, s.heap.str("renamed"));
    CHECK_FALSE(names.update(two, t0 + 500ms));
    CHECK(names.name_of(two[0]) == std::optional<std::string>("worker-3"));
    CHECK(names.update(two, t0 + 1s));
    CHECK(names.name_of(two[0]) == std::optional<std::string>("renamed"));

    // A new thread triggers a refresh, but not sooner than 50 ms after the last one.
    auto three = s.keys(true);
    CHECK_FALSE(names.update(three, t0 + 1s + 10ms));
    CHECK(names.update(three, t0 + 1s + 60ms));
    CHECK_FALSE(names.update(three, t0 + 1s + 200ms));
    // Same thread id, new thread state (the id was reused): a change too.
    three[1].thread_state = 0x4000;
    CHECK(names.update(three, t0 + 1s + 260ms));
    CHECK(names.name_of(three[1]) == std::optional<std::string>("MainThread"));
    CHECK(names.refresh_count() == 4);

    // Steady state costs no reads at all.
    const std::size_t reads = s.heap.memory.reads;
    for (int i = 1; i <= 100; ++i) names.update(three, t0 + 1s + 260ms + i * 1ms);
    CHECK(s.heap.memory.reads == reads);
}

TEST_CASE("thread names with the walker's assign()", "[names]") {
    struct Sample {
        std::uint64_t thread_state = 0;
        std::uint64_t thread_id = 0;
        std::optional<std::string> name;
    };
    Scenario s;
    ThreadNames names(s.heap.memory, s.heap.layout);
    std::vector<Sample> samples = {{0x1000, Scenario::id_a, {}}, {0x3000, Scenario::id_c, {}}};
    names.assign({s.interp, s.interp}, samples);
    CHECK(samples[0].name == std::optional<std::string>("worker-3"));
    CHECK_FALSE(samples[1].name);
}

TEST_CASE("broken structures give no names, never errors", "[names]") {
    Scenario s;
    ThreadNames names(s.heap.memory, s.heap.layout);
    auto keys = s.keys();

    SECTION("no modules dict") { s.heap.memory.put<std::uint64_t>(s.interp + s.heap.layout.interp_modules, 0); }
    SECTION("modules is not a dict") {
        std::uint64_t modules = 0;
        s.heap.memory.read_value(s.interp + s.heap.layout.interp_modules, modules);
        s.heap.memory.put(modules + 8, s.heap.str_type);
    }
    SECTION("modules points nowhere") {
        s.heap.memory.put<std::uint64_t>(s.interp + s.heap.layout.interp_modules, 0xdead0000);
    }
    SECTION("an absurd entry count") {
        std::uint64_t modules = 0, keys_object = 0;
        s.heap.memory.read_value(s.interp + s.heap.layout.interp_modules, modules);
        s.heap.memory.read_value(modules + s.heap.layout.dict_keys, keys_object);
        s.heap.memory.put<std::int64_t>(keys_object + 24, std::int64_t{1} << 40);
    }
    SECTION("an unknown dict kind") {
        std::uint64_t modules = 0, keys_object = 0;
        s.heap.memory.read_value(s.interp + s.heap.layout.interp_modules, modules);
        s.heap.memory.read_value(modules + s.heap.layout.dict_keys, keys_object);
        s.heap.memory.put<std::uint8_t>(keys_object + 10, 7);
    }
    REQUIRE_NOTHROW(names.refresh(keys));
    for (const auto& key : keys) CHECK_FALSE(names.name_of(key));
}

TEST_CASE("a name that cannot be re-read is kept until its thread is gone", "[names]") {
    Scenario s;
    ThreadNames names(s.heap.memory, s.heap.layout);
    auto keys = s.keys();
    names.refresh(keys);
    REQUIRE(names.name_of(keys[0]));
    s.heap.memory.put<std::uint64_t>(s.interp + s.heap.layout.interp_modules, 0xdead0000);
    names.refresh(keys);
    CHECK(names.name_of(keys[0]) == std::optional<std::string>("worker-3"));
    CHECK(names.name_of(keys[1]) == std::optional<std::string>("MainThread"));
    names.refresh({keys[1]});
    CHECK_FALSE(names.name_of(keys[0]));
    names.refresh(keys);
    CHECK_FALSE(names.name_of(keys[0]));
}

TEST_CASE("garbage memory: bounded work and no names for every layout", "[names]") {
    const PythonVersion versions[] = {{2, 7, 18}, {3, 6, 15}, {3, 7, 2},  {3, 7, 16}, {3, 8, 18}, {3, 9, 18},
                                      {3, 10, 13}, {3, 11, 7}, {3, 12, 1}, {3, 13, 0}, {3, 14, 10}, {3, 15, 2}};
    for (const PythonVersion& version : versions) {
        const Layout layout = *layout_for(version);
        for (std::uint64_t seed = 1; seed <= 200; ++seed) {
            GarbageMemory memory(seed * 0x1000193);
            ThreadNames names(memory, layout);
            std::vector<ThreadKey> keys;
            for (std::uint64_t i = 0; i < 4; ++i) keys.push_back({0x7f0000000000 + seed * 4096, 0x7f0000100000 + i, i + 1});
            REQUIRE_NOTHROW(names.refresh(keys));
            INFO("Python " << version.text() << " seed " << seed);
            CHECK(memory.bytes < (std::size_t{8} << 20));
            for (const auto& key : keys) CHECK_FALSE(names.name_of(key));
        }
    }
}

TEST_CASE("corrupted heaps: no errors, bounded reads, names only from real strings", "[names]") {
    for (std::uint64_t seed = 1; seed <= 2000; ++seed) {
        Scenario s;
        s.heap.memory.corrupt(seed, 1 + static_cast<int>(seed % 16));
        ThreadNames names(s.heap.memory, s.heap.layout);
        auto keys = s.keys();
        s.heap.memory.bytes = 0;
        REQUIRE_NOTHROW(names.refresh(keys));
        INFO("seed " << seed);
        CHECK(s.heap.memory.bytes < (std::size_t{8} << 20));
        for (const auto& key : keys) {
            if (auto name = names.name_of(key)) CHECK(name->size() <= kMaxThreadNameChars * 4);
        }
    }
}
