// A model of the remote stream, shared by the unit test
// (tests/unit/test_stream_model.cpp) and the fuzzer (tests/fuzz/fuzz_stream.cpp).
//
// A simulated program evolves (threads start and end and their idents are
// reused, calls nest and recurse, one function is called under many
// parents, generators are resumed under a C call, several code objects
// share one name and line) under either profiler:
//   sampling: one profile grown in place, as the sampler does;
//   tracing:  per-thread trees keyed by code object, turned into a Profile
//             from scratch for every snapshot as the tracer's snapshot does
//             (frames interned in the order threads are walked, threads
//             merged by ident), then renumbered at random (the source may
//             number frames, threads and nodes any way it likes).
// Now and then the source starts over (the tracer is cleared).
//
// The real UpdateStream (server side) publishes the snapshots; simulated
// viewers, some lagging, some reconnecting, receive its real encoded frames
// through FrameSplitter and decode_message into a real RemoteProfile. After
// every update a viewer applies, its profile must equal the profile the
// server published at that update exactly (same ids, counts, lines,
// children), and the source's snapshot of that update in structure (same
// threads, same call paths with the same counts).
#pragma once

#include "profiling/profile.hpp"
#include "protocol/snapshot_codec.hpp"
#include "protocol/update_stream.hpp"
#include "protocol/wire.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace profiling::stream_model {

// Where the model's choices come from: a seeded generator or a fuzzer's bytes.
class Choices {
public:
    virtual ~Choices() = default;
    // A number in [0, n) (n >= 1).
    virtual std::uint64_t below(std::uint64_t n) = 0;
    virtual bool exhausted() const { return false; }
    bool chance(unsigned percent) { return below(100) < percent; }
};

class RandomChoices : public Choices {
public:
    explicit RandomChoices(std::uint64_t seed) : rng_(seed) {}
    std::uint64_t below(std::uint64_t n) override { return n <= 1 ? 0 : rng_() % n; }

private:
    std::mt19937_64 rng_;
};

// Each choice takes one byte (two above 256 outcomes); zeros once the bytes run out.
class ByteChoices : public Choices {
public:
    ByteChoices(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
    std::uint64_t below(std::uint64_t n) override {
        if (n <= 1) return 0;
        std::uint64_t v = next();
        if (n > 256) v = v << 8 | next();
        return v % n;
    }
    bool exhausted() const override { return pos_ >= size_; }

private:
    std::uint64_t next() { return pos_ < size_ ? data_[pos_++] : 0; }
    const std::uint8_t* data_;
    std::size_t size_;
    std::size_t pos_ = 0;
};

enum class Profiler { Sampling, Tracing };

// ------------------------------------------------------------ the program

class ProgramModel {
public:
    ProgramModel(Profiler kind, Choices& choices) : kind_(kind), c_(choices) {
        // Functions; codes 0-13 are Python code objects, 14-16 C functions.
        // Codes 3 and 4 are two lambdas on one line (one FrameInfo, two code
        // objects), 5 a generator expression, 14 str.join.
        auto py = [](const char* f, const char* q, const char* file, int line) {
            return FrameInfo{f, q ? std::optional<std::string>(q) : std::nullopt, file, line};
        };
        frames_ = {py("main", "main", "app.py", 1),           py("handle", "Handler.handle", "app.py", 10),
                   py("route", "Handler.route", "app.py", 20), py("<lambda>", "Handler.<lambda>", "app.py", 30),
                   py("<genexpr>", "render.<locals>.<genexpr>", "app.py", 40), py("render", "render", "app.py", 45),
                   py("fib", "fib", "math.py", 3),              py("run", "Thread.run", "threading.py", 900),
                   py("_bootstrap", nullptr, "threading.py", 950), py("query", "query", "db.py", 7),
                   py("<module>", nullptr, "app.py", 1),         py("wait", "Event.wait", "threading.py", 600),
                   py("join", "<method 'join' of 'str' objects>", "~", 0),
                   py("sleep", "<built-in method time.sleep>", "~", 0),
                   py("append", "<method 'append' of 'list' objects>", "~", 0)};
        code_frame_ = {0, 1, 2, 3, 3, 4, 5, 6, 7, 8, 9, 10, 11, 11, 12, 13, 14};
        profile_.info.kind = kind == Profiler::Tracing ? "tracing" : "sampling";
        start_thread();
    }

    // One event of the program.
    void step() {
        const auto alive = alive_threads();
        switch (c_.below(12)) {
            case 0:
                if (alive.size() < 6) start_thread();
                break;
            case 1:
                if (!alive.empty() && c_.chance(50)) end_thread(pick(alive));
                break;
            case 2:
            case 3:
            case 4:
                if (!alive.empty()) call(pick(alive), static_cast<int>(c_.below(code_frame_.size())));
                break;
            case 5:   // recursion: the function on top calls itself
                if (!alive.empty()) {
                    Thread& t = threads_[pick(alive)];
                    if (!t.stack.empty()) call_thread(t, t.nodes[t.stack.back()].code);
                }
                break;
            case 6:
            case 7:
                if (!alive.empty()) leave(threads_[pick(alive)]);
                break;
            case 8:   // a generator resumed under a C call: "".join(x for x in ...)
                if (!alive.empty()) {
                    Thread& t = threads_[pick(alive)];
                    if (!call_thread(t, 14)) break;
                    for (int i = static_cast<int>(c_.below(4)); i >= 0; --i) {
                        if (call_thread(t, 5)) {
                            charge(t);
                            leave(t);
                        }
                    }
                    leave(t);
                }
                break;
            case 9:
                if (!alive.empty()) threads_[pick(alive)].name = fmt::format("renamed-{}", c_.below(3));
                break;
            case 10:
                if (c_.chance(3)) start_over();
                break;
            default:
                for (std::size_t i : alive) tick(threads_[i]);
                break;
        }
    }

    // The profile as the source hands it to the server now.
    Profile snapshot() {
        Profile p = kind_ == Profiler::Sampling ? profile_ : traced();
        p.info.ticks = ticks_;
        p.info.duration_s = static_cast<double>(ticks_) / 100;
        if (kind_ == Profiler::Tracing || c_.chance(20)) p = renumbered(p);
        return p;
    }

private:
    struct Node {
        std::uint32_t parent = 0;
        int code = -1;
        std::uint64_t calls = 0, own = 0;
    };
    struct Thread {
        std::uint64_t ident = 0;
        std::int32_t native_id = 0;
        std::optional<std::string> name;
        bool alive = true;
        std::vector<Node> nodes{Node{}};
        std::map<std::pair<std::uint32_t, int>, std::uint32_t> children;
        std::vector<std::uint32_t> stack;
    };

    std::vector<std::size_t> alive_threads() const {
        std::vector<std::size_t> out;
        for (std::size_t i = 0; i < threads_.size(); ++i) {
            if (threads_[i].alive) out.push_back(i);
        }
        return out;
    }
    std::size_t pick(const std::vector<std::size_t>& from) { return from[c_.below(from.size())]; }

    void start_thread() {
        // Idents come from a small pool: a new thread often gets the ident of one that ended.
        std::vector<std::uint64_t> free;
        for (std::uint64_t ident = 1000; ident < 1008; ++ident) {
            bool used = false;
            for (const Thread& t : threads_) used = used || (t.alive && t.ident == ident);
            if (!used) free.push_back(ident);
        }
        if (free.empty()) return;
        Thread t;
        t.ident = free[c_.below(free.size())];
        t.native_id = static_cast<std::int32_t>(next_native_++);
        if (c_.chance(70)) t.name = fmt::format("thread-{}", t.native_id);
        threads_.push_back(std::move(t));
        Thread& added = threads_.back();
        if (c_.chance(60)) call_thread(added, 9);   // threading's bootstrap, then Thread.run
        if (c_.chance(60)) call_thread(added, 8);
    }

    void end_thread(std::size_t i) {
        Thread& t = threads_[i];
        while (!t.stack.empty()) leave(t);
        t.alive = false;
    }

    void call(std::size_t i, int code) { call_thread(threads_[i], code); }

    bool call_thread(Thread& t, int code) {
        if (t.stack.size() >= 12 || t.nodes.size() >= 200) return false;
        charge(t);
        const std::uint32_t parent = t.stack.empty() ? 0 : t.stack.back();
        auto [it, added] = t.children.try_emplace({parent, code}, static_cast<std::uint32_t>(t.nodes.size()));
        if (added) t.nodes.push_back(Node{parent, code, 0, 0});
        t.nodes[it->second].calls += 1;
        t.stack.push_back(it->second);
        return true;
    }

    void leave(Thread& t) {
        if (t.stack.empty()) return;
        charge(t);
        t.stack.pop_back();
    }

    // Time on the thread's top frame; 0 happens (a call shorter than the clock's step).
    void charge(Thread& t) {
        if (!t.stack.empty()) t.nodes[t.stack.back()].own += c_.below(3) * 1000;
    }

    // A tick of the clock: time for tracing, a sample for sampling.
    void tick(Thread& t) {
        ++ticks_;
        if (kind_ == Profiler::Tracing) return charge(t);
        ThreadProfile& out = profile_.thread(t.ident);
        out.native_id = t.native_id;
        out.name = t.name;
        std::vector<FrameId> stack;
        for (std::uint32_t n : t.stack) stack.push_back(profile_.frames.intern(frames_[code_frame_[t.nodes[n].code]]));
        out.tree.add(stack, static_cast<std::int32_t>(c_.below(4)) + 1);
    }

    void start_over() {
        for (Thread& t : threads_) {
            t.stack.clear();
            t.nodes.assign(1, Node{});
            t.children.clear();
        }
        threads_.erase(std::remove_if(threads_.begin(), threads_.end(), [](const Thread& t) { return !t.alive; }),
                       threads_.end());
        ProfileInfo info = profile_.info;
        profile_ = Profile{};
        profile_.info = info;
    }

    // The tracer's snapshot: a Profile built from scratch from the threads' trees.
    Profile traced() const {
        Profile p;
        p.info = profile_.info;
        std::map<int, FrameId> frame_of;
        for (const Thread& t : threads_) {
            if (t.nodes.size() <= 1) continue;
            ThreadProfile& out = p.thread(t.ident);   // a reused ident: one thread
            out.native_id = t.native_id;
            out.name = t.name;
            std::vector<NodeId> mapped(t.nodes.size(), CallTree::kRoot);
            for (std::size_t i = 1; i < t.nodes.size(); ++i) {
                const Node& n = t.nodes[i];
                auto [it, added] = frame_of.try_emplace(n.code, 0);
                if (added) it->second = p.frames.intern(frames_[code_frame_[n.code]]);
                NodeId id = out.tree.child(mapped[n.parent], it->second);
                mapped[i] = id;
                out.tree.node(id).calls += n.calls;
                out.tree.node(id).own += n.own;
            }
        }
        for (ThreadProfile& out : p.threads) {
            for (std::size_t i = out.tree.size(); i-- > 0;) {
                CallNode& node = out.tree.node(static_cast<NodeId>(i));
                node.deep += node.own;
                if (i != 0) out.tree.node(node.parent).deep += node.deep;
            }
        }
        return p;
    }

    // The same profile with frames, threads and nodes numbered at random
    // (parents still before children).
    Profile renumbered(const Profile& p) {
        Profile out;
        out.info = p.info;
        std::vector<FrameId> order(p.frames.size());
        for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<FrameId>(i);
        shuffle(order);
        std::vector<FrameId> frame_of(p.frames.size());
        for (FrameId f : order) frame_of[f] = out.frames.intern(p.frames[f]);
        std::vector<std::size_t> threads(p.threads.size());
        for (std::size_t i = 0; i < threads.size(); ++i) threads[i] = i;
        shuffle(threads);
        for (std::size_t t : threads) {
            const ThreadProfile& from = p.threads[t];
            ThreadProfile& to = out.threads.emplace_back();
            to.thread_id = from.thread_id;
            to.native_id = from.native_id;
            to.name = from.name;
            // Nodes in a random order in which every parent comes first.
            std::vector<NodeId> ready = from.tree.node(CallTree::kRoot).children;
            std::vector<NodeId> mapped(from.tree.size(), CallTree::kRoot);
            copy_counts(to.tree.node(CallTree::kRoot), from.tree.node(CallTree::kRoot));
            while (!ready.empty()) {
                std::size_t k = c_.below(ready.size());
                NodeId n = ready[k];
                ready.erase(ready.begin() + static_cast<std::ptrdiff_t>(k));
                const CallNode& source = from.tree.node(n);
                NodeId id = to.tree.child(mapped[source.parent], frame_of[source.frame]);
                mapped[n] = id;
                copy_counts(to.tree.node(id), source);
                ready.insert(ready.end(), source.children.begin(), source.children.end());
            }
        }
        return out;
    }

    static void copy_counts(CallNode& to, const CallNode& from) {
        to.own = from.own;
        to.deep = from.deep;
        to.calls = from.calls;
        to.own_lines = from.own_lines;
    }

    template <typename T>
    void shuffle(std::vector<T>& v) {
        for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[c_.below(i)]);
    }

    Profiler kind_;
    Choices& c_;
    std::vector<FrameInfo> frames_;
    std::vector<std::size_t> code_frame_;
    std::vector<Thread> threads_;
    Profile profile_;   // sampling: the one profile, grown in place
    std::uint64_t ticks_ = 0;
    std::uint32_t next_native_ = 1;
};

// ------------------------------------------------------------ comparisons

// A profile by what it is, whatever its numbering: per thread id, its
// identity and every call path's counts.
struct Shape {
    struct Counts {
        std::uint64_t own, deep, calls;
        std::vector<std::pair<std::int32_t, std::uint64_t>> lines;
        bool operator==(const Counts&) const = default;
    };
    struct ThreadShape {
        std::optional<std::int32_t> native_id;
        std::optional<std::string> name;
        std::map<std::uint64_t, Counts> paths;   // by a hash of the path's frames
        bool operator==(const ThreadShape&) const = default;
    };
    std::map<std::uint64_t, ThreadShape> threads;
    bool operator==(const Shape&) const = default;
};

inline std::string frame_key(const FrameInfo& f) {
    return fmt::format("{}|{}|{}|{}", f.function, f.qualname.value_or("-"), f.file, f.first_line);
}

inline Shape shape_of(const Profile& p) {
    Shape s;
    std::vector<std::uint64_t> frame_hash;
    for (const FrameInfo& f : p.frames.all()) frame_hash.push_back(std::hash<std::string>{}(frame_key(f)));
    for (const ThreadProfile& t : p.threads) {
        Shape::ThreadShape& ts = s.threads[t.thread_id];
        ts.native_id = t.native_id;
        ts.name = t.name;
        std::vector<std::uint64_t> path(t.tree.size(), 0x9E3779B97F4A7C15ull);
        for (NodeId n = 0; n < t.tree.size(); ++n) {
            const CallNode& node = t.tree.node(n);
            if (n != CallTree::kRoot) {
                const std::uint64_t h = (path[node.parent] ^ frame_hash[node.frame]) * 0xff51afd7ed558ccdull;
                path[n] = h ^ (h >> 29);
            }
            auto lines = node.own_lines;
            std::sort(lines.begin(), lines.end());
            ts.paths[path[n]] = Shape::Counts{node.own, node.deep, node.calls, lines};
        }
    }
    return s;
}

// The first difference between two profiles node by node (ids included), or "".
inline std::string exact_difference(const Profile& a, const Profile& b) {
    if (a.frames.all() != b.frames.all()) return "frame tables differ";
    if (a.info.ticks != b.info.ticks || a.info.duration_s != b.info.duration_s) return "info differs";
    if (a.threads.size() != b.threads.size()) {
        return fmt::format("{} threads against {}", a.threads.size(), b.threads.size());
    }
    for (std::size_t i = 0; i < a.threads.size(); ++i) {
        const ThreadProfile& x = a.threads[i];
        const ThreadProfile& y = b.threads[i];
        if (x.thread_id != y.thread_id || x.native_id != y.native_id || x.name != y.name) {
            return fmt::format("thread {}: identity differs ({} against {})", i, x.thread_id, y.thread_id);
        }
        if (x.tree.size() != y.tree.size()) {
            return fmt::format("thread {}: {} nodes against {}", i, x.tree.size(), y.tree.size());
        }
        for (NodeId n = 0; n < x.tree.size(); ++n) {
            const CallNode& p = x.tree.node(n);
            const CallNode& q = y.tree.node(n);
            if (p.parent != q.parent || p.frame != q.frame || p.own != q.own || p.deep != q.deep ||
                p.calls != q.calls || p.own_lines != q.own_lines || p.children != q.children) {
                return fmt::format("thread {} node {}: (parent {}, frame {}, own {}, deep {}, calls {}) against "
                                   "(parent {}, frame {}, own {}, deep {}, calls {})",
                                   i, n, p.parent, p.frame, p.own, p.deep, p.calls, q.parent, q.frame, q.own, q.deep,
                                   q.calls);
            }
        }
    }
    return "";
}

// ------------------------------------------------------------ the stream

struct StreamStats {
    std::uint64_t published = 0, applied = 0, full = 0, reconnects = 0;
};

class StreamModel {
public:
    StreamModel(Profiler kind, Choices& choices, std::size_t viewers, std::uint32_t ack_window)
        : c_(choices), program_(kind, choices), stream_(ack_window) {
        for (std::size_t i = 0; i < viewers; ++i) {
            Viewer& v = viewers_.emplace_back();
            v.speed = i == 0 ? 8 : 30 + static_cast<unsigned>(c_.below(70));   // viewer 0 lags
            connect(v);
        }
    }

    // One step: the program, maybe a snapshot published, maybe viewers
    // reading, acknowledging, leaving or coming back. Returns what went
    // wrong, or "".
    std::string step() {
        program_.step();
        if (c_.chance(25)) publish();
        for (Viewer& v : viewers_) {
            if (!v.connected) {
                if (c_.chance(20)) connect(v);
                continue;
            }
            if (c_.chance(1)) {
                v.connected = false;
                continue;
            }
            if (!v.in_flight.empty() && c_.chance(v.speed)) {
                if (std::string error = deliver(v); !error.empty()) return error;
            }
        }
        prune();
        return "";
    }

    const StreamStats& stats() const { return stats_; }

private:
    struct Viewer {
        unsigned speed = 50;                   // percent chance of reading a frame per step
        bool connected = false;
        protocol::UpdateStream::Viewer place;  // the server's view of it
        protocol::RemoteProfile remote;
        std::deque<std::pair<std::uint64_t, protocol::SharedBytes>> in_flight;   // (seq, frame)
        std::uint64_t behind_since = 0;        // publishes it has been behind for
    };

    void connect(Viewer& v) {
        ++stats_.reconnects;
        v = Viewer{v.speed};
        v.connected = true;
        protocol::Welcome w;
        w.kind = "model";
        v.remote.welcome(w);
        send(v);   // a late joiner gets the profile at once
    }

    void send(Viewer& v) {
        if (protocol::SharedBytes bytes = stream_.next(v.place)) v.in_flight.emplace_back(stream_.seq(), bytes);
    }

    void publish() {
        Profile snapshot = program_.snapshot();
        stream_.publish(snapshot, true, static_cast<std::uint32_t>(viewers_.size()));
        ++stats_.published;
        history_[stream_.seq()] = {stream_.profile(), shape_of(snapshot)};
        for (Viewer& v : viewers_) {
            if (!v.connected) continue;
            if (stream_.behind(v.place)) {
                if (++v.behind_since > 40) v.connected = false;   // the server's viewer timeout
                continue;
            }
            v.behind_since = 0;
            send(v);
        }
    }

    std::string deliver(Viewer& v) {
        auto [seq, bytes] = v.in_flight.front();
        v.in_flight.pop_front();
        protocol::FrameSplitter splitter(protocol::kMaxServerMessageBytes);
        splitter.feed(*bytes);
        try {
            auto payload = splitter.next();
            if (!payload || splitter.pending() != 0) return "the server sent a partial frame";
            protocol::Message message = protocol::decode_message(*payload);
            auto* update = std::get_if<protocol::Update>(&message);
            if (!update) return "the server sent something other than an update";
            if (update->base_seq == 0) ++stats_.full;
            v.remote.apply(*update);
            protocol::UpdateStream::ack(v.place, update->seq);
        } catch (const protocol::ProtocolError& error) {
            return fmt::format("update {}: the viewer refused it: {}", seq, error.what());
        }
        ++stats_.applied;
        auto it = history_.find(seq);
        if (it == history_.end()) return fmt::format("update {}: no history kept (model bug)", seq);
        if (std::string d = exact_difference(v.remote.profile(), it->second.published); !d.empty()) {
            return fmt::format("update {}: the viewer's profile is not the published one: {}", seq, d);
        }
        if (!(shape_of(v.remote.profile()) == it->second.shape)) {
            return fmt::format("update {}: the viewer's profile is not the source's snapshot", seq);
        }
        return "";
    }

    // History older than anything a viewer may still apply is dropped.
    void prune() {
        std::uint64_t keep = stream_.seq();
        for (const Viewer& v : viewers_) {
            if (v.connected && !v.in_flight.empty()) keep = std::min(keep, v.in_flight.front().first);
        }
        history_.erase(history_.begin(), history_.lower_bound(keep));
    }

    struct Published {
        Profile published;
        Shape shape;
    };

    Choices& c_;
    ProgramModel program_;
    protocol::UpdateStream stream_;
    std::vector<Viewer> viewers_;
    std::map<std::uint64_t, Published> history_;
    StreamStats stats_;
};

}  // namespace profiling::stream_model
