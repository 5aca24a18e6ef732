// The `threading` name of each thread (threading.current_thread().name),
// read from the target's memory.
//
// Route, for every supported version: the interpreter's module dict
// (interp->modules; interp->imports.modules on 3.12+) -> "threading" ->
// the module's md_dict -> "_active", a dict {ident: Thread} -> the Thread
// object's `_name` attribute (2.7: `_Thread__name`). The ident keys are
// Python ints equal to the tstate's thread_id (pthread_self()).
//
// Everything is read-only and bounded. Any failure or inconsistency (torn
// read, unexpected type, oversized table) yields "no name", never an error.
// Names change rarely, so they are cached per (interpreter, thread_id,
// tstate) and re-read at most once a second, or soon after a thread appears.
#pragma once

#include "attach/layouts.hpp"
#include "attach/process_memory.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace profiling::attach {

struct ThreadKey {
    std::uint64_t interpreter = 0;   // PyInterpreterState* the thread belongs to
    std::uint64_t thread_id = 0;     // pthread_self() = threading.get_ident()
    std::uint64_t thread_state = 0;  // PyThreadState*
    friend bool operator==(const ThreadKey&, const ThreadKey&) = default;
};

struct ThreadKeyHash {
    std::size_t operator()(const ThreadKey& key) const noexcept;
};

// Longest name we report (code points); longer ones count as unreadable.
inline constexpr std::size_t kMaxThreadNameChars = 4096;

class ThreadNames {
public:
    using Clock = std::chrono::steady_clock;
    // Names are re-read this often...
    static constexpr Clock::duration kRefreshInterval = std::chrono::seconds(1);
    // ...or, when the set of threads changed, once this much time has passed
    // since the last read (bounds the cost when threads come and go quickly).
    static constexpr Clock::duration kChangedInterval = std::chrono::milliseconds(50);

    ThreadNames(MemoryReader& memory, const Layout& layout);

    // Re-reads the names when due (see above). Returns true if it did.
    bool update(const std::vector<ThreadKey>& threads, Clock::time_point now = Clock::now());

    // Re-reads the names of `threads` now; forgets every other thread. A
    // thread whose name cannot be read this time keeps the one last read for
    // it (same interpreter, thread id and thread state).
    void refresh(const std::vector<ThreadKey>& threads, Clock::time_point now = Clock::now());

    // The name found at the last refresh; nullptr when unknown or unreadable.
    const std::string* find(const ThreadKey& key) const;
    std::optional<std::string> name_of(const ThreadKey& key) const {
        const std::string* name = find(key);
        return name ? std::optional<std::string>(*name) : std::nullopt;
    }

    // For the stack walker: `samples[i]` (with .thread_id, .thread_state and
    // an optional<string> .name) belongs to interpreter `interpreters[i]`.
    template <typename Samples>
    void assign(const std::vector<std::uint64_t>& interpreters, Samples& samples,
                Clock::time_point now = Clock::now()) {
        keys_.clear();
        for (std::size_t i = 0; i < samples.size() && i < interpreters.size(); ++i) {
            keys_.push_back({interpreters[i], samples[i].thread_id, samples[i].thread_state});
        }
        update(keys_, now);
        for (std::size_t i = 0; i < keys_.size(); ++i) samples[i].name = name_of(keys_[i]);
    }

    // Number of refreshes so far (for tests and statistics).
    std::uint64_t refresh_count() const { return refreshes_; }

    // A remembered key object: the address of a str found equal to a wanted
    // key (interned strings keep their address), checked again once per refresh.
    struct KeyHint {
        std::uint64_t address = 0;
        bool checked = false;
    };

private:
    MemoryReader& memory_;
    const Layout& layout_;
    std::unordered_map<ThreadKey, std::optional<std::string>, ThreadKeyHash> names_;
    std::vector<ThreadKey> keys_;          // scratch for assign()
    std::uint64_t fingerprint_ = 0;        // of the thread set at the last refresh
    std::size_t thread_count_ = 0;
    bool refreshed_ = false;
    Clock::time_point last_refresh_{};
    std::uint64_t refreshes_ = 0;
    KeyHint threading_hint_, active_hint_, name_hint_;
};

}  // namespace profiling::attach
