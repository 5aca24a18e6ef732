// CodeCache: which code objects are the interpreter's own shims (never shown
// in a stack), from the shape CPython gives them, for every 3.11+ layout.
// The real interpreters are checked end to end by tests/e2e/test_pseudo_frames.py.
#include "attach/code_cache.hpp"
#include "attach/layouts.hpp"

#include <catch2/catch.hpp>

#include <cstring>
#include <map>
#include <string>
#include <vector>

using namespace profiling;
using namespace profiling::attach;

namespace {

// Memory made of separately allocated regions; a read must fall inside one.
class RegionMemory final : public MemoryReader {
public:
    bool read(std::uint64_t address, void* out, std::size_t size) override {
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
        next_ += (size + 0xfff) & ~std::uint64_t{0xfff};
        return at;
    }

    template <typename T>
    void put(std::uint64_t address, T value) {
        auto it = --regions_.upper_bound(address);
        std::memcpy(it->second.data() + (address - it->first), &value, sizeof(T));
    }

private:
    std::map<std::uint64_t, std::vector<unsigned char>> regions_;
    std::uint64_t next_ = 0x100000;
};

// A compact ASCII str (PEP 393).
std::uint64_t make_str(RegionMemory& memory, const Layout& layout, const std::string& text) {
    std::uint64_t s = memory.alloc(static_cast<std::size_t>(layout.ascii_object_size) + text.size() + 1);
    memory.put<std::int64_t>(s + layout.unicode_length, static_cast<std::int64_t>(text.size()));
    memory.put<std::uint32_t>(s + layout.unicode_state, (1u << 2) | 0x20 | 0x40);   // kind 1, compact, ascii
    for (std::size_t i = 0; i < text.size(); ++i) memory.put(s + layout.ascii_object_size + i, text[i]);
    return s;
}

// A code object of `units` code units whose first traceable unit is `first_traceable`.
std::uint64_t make_code(RegionMemory& memory, const Layout& layout, const std::string& name, const std::string& file,
                        std::int64_t units, std::int32_t first_traceable) {
    std::uint64_t code = memory.alloc(layout.code_object_span() + 64);
    memory.put<std::int64_t>(code, 1);   // ob_refcnt: a live object (a freed one is refused)
    memory.put<std::int64_t>(code + layout.varobject_size, units);
    memory.put(code + layout.code_name, make_str(memory, layout, name));
    if (layout.code_qualname != kAbsent) memory.put(code + layout.code_qualname, make_str(memory, layout, name));
    memory.put(code + layout.code_filename, make_str(memory, layout, file));
    memory.put<std::int32_t>(code + layout.code_firstlineno, 1);
    if (layout.code_first_traceable != kAbsent) memory.put(code + layout.code_first_traceable, first_traceable);
    return code;
}

}  // namespace

TEST_CASE("the interpreter's shim code objects are told from Python code by their shape", "[code]") {
    for (int minor : {11, 12, 13, 14, 15}) {
        CAPTURE(minor);
        const Layout layout = *layout_for(PythonVersion{3, minor, 0});
        RegionMemory memory;
        CodeCache cache(memory, layout, 0);
        const std::int64_t resume = layout.resume_code_units;

        // 3.12's interpreter trampoline: NOP, INTERPRETER_EXIT, RESUME.
        const CodeInfo* trampoline = cache.resolve(make_code(memory, layout, "<interpreter trampoline>", "<shim>", 3, 2));
        REQUIRE(trampoline);
        CHECK(trampoline->is_shim);
        // 3.13+'s __init__ cleanup: three units, first traceable past its end.
        const CodeInfo* cleanup = cache.resolve(make_code(memory, layout, "__init__", "__init__", 3, 4));
        REQUIRE(cleanup);
        CHECK(cleanup->is_shim);
        // The same shape under an ordinary name is still a shim: the shape is the marker.
        const CodeInfo* renamed = cache.resolve(make_code(memory, layout, "work", "/app/x.py", 2 + resume - 1, 1));
        REQUIRE(renamed);
        CHECK(renamed->is_shim);

        // `def f(): pass`: RESUME (and its caches), then the return.
        const CodeInfo* empty_function = cache.resolve(make_code(memory, layout, "f", "/app/x.py", resume + 1, 0));
        REQUIRE(empty_function);
        CHECK_FALSE(empty_function->is_shim);
        // A generator: RETURN_GENERATOR, POP_TOP, RESUME, ..., its body.
        const CodeInfo* generator = cache.resolve(make_code(memory, layout, "gen", "/app/x.py", 2 + resume + 3, 2));
        REQUIRE(generator);
        CHECK_FALSE(generator->is_shim);
        // The trampoline's name and file on real code do not make it a shim.
        const CodeInfo* named_alike =
            cache.resolve(make_code(memory, layout, "<interpreter trampoline>", "<shim>", resume + 5, 0));
        REQUIRE(named_alike);
        CHECK_FALSE(named_alike->is_shim);
    }
}

TEST_CASE("before 3.11 no code object is a shim", "[code]") {
    for (int minor : {6, 9, 10}) {
        CAPTURE(minor);
        const Layout layout = *layout_for(PythonVersion{3, minor, 0});
        RegionMemory memory;
        CodeCache cache(memory, layout, 0);
        std::uint64_t code = memory.alloc(layout.code_object_span() + 64);
        memory.put<std::int64_t>(code, 1);   // ob_refcnt
        memory.put(code + layout.code_name, make_str(memory, layout, "f"));
        memory.put(code + layout.code_filename, make_str(memory, layout, "x.py"));
        memory.put<std::int32_t>(code + layout.code_firstlineno, 1);
        // Whatever lies where ob_size would be.
        memory.put<std::int64_t>(code + layout.varobject_size, 0);
        const CodeInfo* info = cache.resolve(code);
        REQUIRE(info);
        CHECK(info->name == "f");
        CHECK_FALSE(info->is_shim);
    }
}

TEST_CASE("a code object replaced at the same address leaves the sample's earlier pointers valid", "[code]") {
    // Under churn a code object is freed and another one allocated at its
    // address between two threads' reads of one sample: the first thread's
    // frames still point at the old entry when the second resolves the new one.
    // (Before the fix the old entry was freed at once: ASan saw a
    // use-after-free, and a CI run died with std::bad_alloc on a freed name.)
    const Layout layout = *layout_for(PythonVersion{3, 12, 0});
    RegionMemory memory;
    CodeCache cache(memory, layout, 0);
    const std::uint64_t code = make_code(memory, layout, "first", "/app/a.py", 8, 0);
    const CodeInfo* before = cache.resolve(code);
    REQUIRE(before);

    memory.put(code + layout.code_name, make_str(memory, layout, "second"));
    memory.put(code + layout.code_qualname, make_str(memory, layout, "second"));
    memory.put<std::int32_t>(code + layout.code_firstlineno, 40);
    const CodeInfo* after = cache.resolve(code);
    REQUIRE(after);
    CHECK(after->name == "second");
    CHECK(after->first_line == 40);
    CHECK(before->name == "first");   // still alive until the next sample
    CHECK(before->serial != after->serial);

    cache.trim();   // the next sample: the replaced entry is gone, the new one stays
    CHECK(cache.resolve(code) == after);
}

TEST_CASE("a look-alike code object at the same address, its strings too, is told by their characters", "[code]") {
    // A loop compiling look-alike code (tests/e2e/targets/churn.py) gets from
    // the allocator a new code object where the old one was, and its name and
    // file strings where the old ones were: every pointer and field of the
    // header is the same. Seen on 2.7: churn_gen_2253.py's module code shown
    // with the file name churn_gen_2242.py, cached at that address before.
    for (const PythonVersion version : {PythonVersion{3, 6, 15}, PythonVersion{3, 12, 1}, PythonVersion{3, 14, 0}}) {
        const Layout layout = *layout_for(version);
        RegionMemory memory;
        CodeCache cache(memory, layout, 0);
        const std::uint64_t code = make_code(memory, layout, "g_2242", "churn_gen_2242.py", 8, 0);
        const CodeInfo* before = cache.resolve(code);
        REQUIRE(before);
        CHECK(before->file == "churn_gen_2242.py");
        const std::string before_name = before->name;
        cache.trim();
        CHECK(cache.resolve(code) == before);   // unchanged: a hit

        // The same addresses, other characters (the header is untouched).
        std::uint64_t name = 0, file = 0;
        REQUIRE(memory.read(code + layout.code_name, &name, 8));
        REQUIRE(memory.read(code + layout.code_filename, &file, 8));
        const std::string new_name = "g_2253", new_file = "churn_gen_2253.py";
        for (std::size_t i = 0; i < new_name.size(); ++i) memory.put(name + layout.ascii_object_size + i, new_name[i]);
        for (std::size_t i = 0; i < new_file.size(); ++i) memory.put(file + layout.ascii_object_size + i, new_file[i]);
        // A hash computed meanwhile, or the string interned, is no change.
        memory.put<std::int64_t>(file + layout.unicode_length + 8, 12345);
        cache.trim();
        const CodeInfo* after = cache.resolve(code);
        REQUIRE(after);
        CHECK(after->name == "g_2253");
        CHECK(after->file == "churn_gen_2253.py");
        CHECK(before_name == "g_2242");

        cache.trim();
        memory.put<std::uint32_t>(file + layout.unicode_state, (1u << 2) | 0x20 | 0x40 | 1);   // interned
        CHECK(cache.resolve(code) == after);
    }
}

TEST_CASE("the cache keeps at most kMaxEntries code objects, the least recently used go first", "[code]") {
    const Layout layout = *layout_for(PythonVersion{3, 12, 1});
    RegionMemory memory;
    CodeCache cache(memory, layout, 0);
    const std::uint64_t kept = make_code(memory, layout, "main_loop", "/app/main.py", 8, 0);
    for (std::size_t i = 0; i < CodeCache::kMaxEntries + 100; ++i) {
        cache.trim();
        REQUIRE(cache.resolve(kept));
        std::uint64_t generated = make_code(memory, layout, "f_" + std::to_string(i), "gen.py", 8, 0);
        REQUIRE(cache.resolve(generated));
        CHECK(cache.size() <= CodeCache::kMaxEntries + 1);
    }
    const CodeInfo* main_loop = cache.resolve(kept);
    cache.trim();
    CHECK(cache.resolve(kept) == main_loop);   // used every sample: never evicted
}
