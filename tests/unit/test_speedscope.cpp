// The speedscope export: frames shared, one sampled profile per thread,
// each node with own samples a weighted path from the outermost frame.
#include "src/format/speedscope.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <numeric>
#include <vector>

using namespace profiling;

TEST_CASE("speedscope: one sampled profile per thread, paths outermost first, weights = own") {
    Profile profile;
    profile.info.kind = "sampling";
    profile.info.pid = 42;
    profile.info.command = "python3 app.py";
    const FrameId main_frame = profile.frames.intern({"main", std::string("main"), "app.py", 1});
    const FrameId handle = profile.frames.intern({"handle", std::string("Server.handle"), "app.py", 10});
    const FrameId module = profile.frames.intern({"<module>", std::nullopt, "app.py", 0});
    ThreadProfile& first = profile.thread(0x10);
    first.name = "MainThread";
    first.tree.add(std::vector<FrameId>{main_frame, handle}, 11, 5);
    first.tree.add(std::vector<FrameId>{main_frame}, 2, 2);
    first.tree.add({}, 0, 1);   // no Python frame: left out
    ThreadProfile& second = profile.thread(0x2a);
    second.tree.add(std::vector<FrameId>{module}, 3, 4);

    const auto doc = nlohmann::json::parse(format_speedscope(profile));
    CHECK(doc["$schema"] == "https://www.speedscope.app/file-format-schema.json");
    const auto& frames = doc["shared"]["frames"];
    REQUIRE(frames.size() == 3);
    CHECK(frames[handle]["name"] == "Server.handle");
    CHECK(frames[handle]["file"] == "app.py");
    CHECK(frames[handle]["line"] == 10);
    CHECK(frames[module]["name"] == "<module>");
    CHECK_FALSE(frames[module].contains("line"));   // no line 0 in speedscope

    const auto& profiles = doc["profiles"];
    REQUIRE(profiles.size() == 2);
    const auto& main_thread = profiles[0];
    CHECK(main_thread["type"] == "sampled");
    CHECK(main_thread["unit"] == "none");
    CHECK(main_thread["name"] == "MainThread (0x10)");
    const auto samples = main_thread["samples"].get<std::vector<std::vector<FrameId>>>();
    const auto weights = main_thread["weights"].get<std::vector<std::uint64_t>>();
    REQUIRE(samples.size() == weights.size());
    CHECK(samples == std::vector<std::vector<FrameId>>{{main_frame}, {main_frame, handle}});
    CHECK(weights == std::vector<std::uint64_t>{2, 5});
    CHECK(main_thread["endValue"] == 7);
    CHECK(profiles[1]["name"] == "thread (0x2a)");
    CHECK(profiles[1]["weights"] == nlohmann::json::array({4}));
}

TEST_CASE("speedscope: tracing profiles are in nanoseconds; bad UTF-8 does not throw") {
    Profile profile;
    profile.info.kind = "tracing";
    profile.info.command = std::string("python3 \xff\xfe.py");
    const FrameId f = profile.frames.intern({"f\xc3", std::nullopt, "x.py", 1});
    profile.thread(1).tree.add(std::vector<FrameId>{f}, 1, 1500);
    const auto doc = nlohmann::json::parse(format_speedscope(profile));
    CHECK(doc["profiles"][0]["unit"] == "nanoseconds");
    CHECK(doc["profiles"][0]["endValue"] == 1500);
}
