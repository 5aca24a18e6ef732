// Model-based tests of the remote stream (tests/model/stream_model.hpp):
// random evolving profiles of both profilers, published by the real
// UpdateStream and rebuilt by real RemoteProfiles; after every update a
// viewer applies, its profile equals the server's exactly. Then the same
// over loopback with the real server and clients: several viewers, one
// lagging, one reconnecting.
//
// Seeds are random per run and printed on failure; PROFILING_MODEL_SEED=N
// replays one.
#include "protocol/client.hpp"
#include "protocol/server.hpp"
#include "tests/model/stream_model.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <mutex>
#include <random>
#include <thread>

using namespace profiling;
using namespace profiling::stream_model;

namespace {

using Clock = std::chrono::steady_clock;

std::uint64_t first_seed() {
    if (const char* env = std::getenv("PROFILING_MODEL_SEED"); env && *env) return std::strtoull(env, nullptr, 10);
    return std::random_device{}();
}

const char* name_of(Profiler kind) { return kind == Profiler::Tracing ? "tracing" : "sampling"; }

}  // namespace

TEST_CASE("stream model: every viewer rebuilds the server's profile exactly, after every update", "[model]") {
    const bool replay = std::getenv("PROFILING_MODEL_SEED") != nullptr;
    const std::uint64_t base = first_seed();
    for (Profiler kind : {Profiler::Tracing, Profiler::Sampling}) {
        const auto until = Clock::now() + std::chrono::seconds(4);
        StreamStats total;
        std::uint64_t runs = 0, steps = 0;
        for (std::uint64_t seed = base; runs == 0 || (!replay && Clock::now() < until); ++seed, ++runs) {
            RandomChoices choices(seed);
            const std::size_t viewers = 1 + seed % 4;
            const auto window = static_cast<std::uint32_t>(1 + seed % 3);
            StreamModel model(kind, choices, viewers, window);
            for (int step = 0; step < 600; ++step, ++steps) {
                const std::string error = model.step();
                if (!error.empty()) {
                    FAIL(fmt::format("{} profile, seed {} (PROFILING_MODEL_SEED={} replays it), {} viewers, ack "
                                     "window {}, step {}: {}",
                                     name_of(kind), seed, seed, viewers, window, step, error));
                }
            }
            const StreamStats& s = model.stats();
            total.published += s.published;
            total.applied += s.applied;
            total.full += s.full;
            total.reconnects += s.reconnects;
        }
        // What the runs covered, so a model that stopped doing anything shows.
        fmt::print("stream model ({}): {} runs, {} steps, {} updates published, {} applied ({} full), {} "
                   "connects\n",
                   name_of(kind), runs, steps, total.published, total.applied, total.full, total.reconnects);
        CHECK(total.applied > total.published);
        CHECK(total.full > runs);
    }
}

TEST_CASE("stream model: over loopback, several viewers (one lagging, one reconnecting) get the source's profile", "[model]") {
    const std::uint64_t seed = first_seed();
    INFO("seed " << seed << " (PROFILING_MODEL_SEED replays it)");
    for (Profiler kind : {Profiler::Tracing, Profiler::Sampling}) {
        INFO(name_of(kind));
        std::mutex mutex;
        RandomChoices choices(seed);
        ProgramModel program(kind, choices);
        std::map<std::uint64_t, Shape> history;   // snapshot call n = update n
        std::vector<std::string> failures;

        protocol::ServerOptions options;
        options.bind = "127.0.0.1:0";
        options.interval_s = 0.02;
        options.ack_window = 2;
        options.viewer_timeout_s = 30;
        protocol::ServerHooks hooks;
        hooks.snapshot = [&] {
            std::lock_guard lock(mutex);
            for (int i = 0; i < 20; ++i) program.step();
            Profile snapshot = program.snapshot();
            history[history.size() + 1] = shape_of(snapshot);
            return snapshot;
        };
        hooks.sampling = [] { return true; };
        protocol::Welcome welcome;
        welcome.kind = name_of(kind);
        protocol::Server server(options, welcome, hooks);
        const std::string address = server.listening().at(0);

        struct Watcher {
            std::chrono::milliseconds pause{0};   // per update: a lagging viewer
            std::size_t leave_after = 0;          // updates per connection; 0: stays
            std::atomic<std::size_t> updates{0};
            std::atomic<std::size_t> connections{0};
            protocol::ClientStop stop;
        };
        std::vector<std::unique_ptr<Watcher>> watchers;
        for (int i = 0; i < 4; ++i) watchers.push_back(std::make_unique<Watcher>());
        watchers[1]->pause = std::chrono::milliseconds(150);
        watchers[2]->leave_after = 7;

        std::vector<std::thread> threads;
        for (auto& w : watchers) {
            threads.emplace_back([&, watcher = w.get()] {
                protocol::ClientOptions client;
                client.address = address;
                client.reconnect_s = 0.01;
                while (!watcher->stop.requested()) {
                    std::size_t in_this_connection = 0;
                    protocol::ClientEvents events;
                    events.connected = [&](const protocol::Welcome&) { ++watcher->connections; };
                    events.updated = [&](const protocol::RemoteProfile& remote) {
                        {
                            std::lock_guard lock(mutex);
                            auto it = history.find(remote.seq());
                            if (it == history.end() || !(shape_of(remote.profile()) == it->second)) {
                                failures.push_back(fmt::format("update {}: the viewer's profile is not the source's",
                                                               remote.seq()));
                            }
                        }
                        ++watcher->updates;
                        std::this_thread::sleep_for(watcher->pause);
                        return watcher->leave_after == 0 || ++in_this_connection < watcher->leave_after;
                    };
                    events.lost = [&](const std::string& why, bool) {
                        std::lock_guard lock(mutex);
                        failures.push_back("connection lost: " + why);
                        return true;
                    };
                    protocol::run_client(client, events, &watcher->stop);
                }
            });
        }
        std::this_thread::sleep_for(std::chrono::seconds(3));
        for (auto& w : watchers) w->stop.request();
        for (auto& t : threads) t.join();
        server.finish("the test ended");

        std::lock_guard lock(mutex);
        for (const std::string& failure : failures) FAIL_CHECK(failure);
        fmt::print("stream over loopback ({}): {} updates published; viewers applied {}, {} (lagging), {} over {} "
                   "connections, {}\n",
                   name_of(kind), history.size(), watchers[0]->updates.load(), watchers[1]->updates.load(),
                   watchers[2]->updates.load(), watchers[2]->connections.load(), watchers[3]->updates.load());
        CHECK(watchers[0]->updates > 10);
        CHECK(watchers[1]->updates > 3);
        CHECK(watchers[2]->connections > 1);
    }
}
