// The plain-text report: header, nested tree, hiding, deep recursion.
#include "src/format/text_report.hpp"

#include <catch2/catch.hpp>

#include <sstream>

using namespace profiling;

namespace {

// main -> handle -> parse, main -> handle, main -> idle, and one sample
// without a Python frame, over two threads; 12 samples.
Profile small_profile() {
    Profile profile;
    profile.info.pid = 4242;
    profile.info.command = "python3 app.py";
    profile.info.python_version = "3.12.1";
    profile.info.mode = "cpu";
    profile.info.rate_hz = 100;
    profile.info.ticks = 6;
    profile.info.missed_ticks = 1;
    profile.info.duration_s = 0.07;
    FrameId main_frame = profile.frames.intern({"main", std::string("main"), "app.py", 1});
    FrameId handle = profile.frames.intern({"handle", std::string("Server.handle"), "app.py", 10});
    FrameId parse = profile.frames.intern({"parse", std::nullopt, "lib.py", 20});
    FrameId idle = profile.frames.intern({"idle", std::string("idle"), "app.py", 30});
    ThreadProfile& main_thread = profile.thread(0x10);
    main_thread.native_id = 4243;
    main_thread.name = "MainThread";
    main_thread.tree.add(std::vector<FrameId>{main_frame, handle, parse}, 21, 5);
    main_thread.tree.add(std::vector<FrameId>{main_frame, handle}, 11, 1);
    ThreadProfile& worker = profile.thread(0x2a);
    worker.tree.add(std::vector<FrameId>{main_frame, idle}, 31, 3);
    worker.tree.add(std::vector<FrameId>{main_frame}, 2, 2);
    worker.tree.add({}, 0, 1);
    return profile;
}

const char* const kHeader =
    "pid:      4242\n"
    "command:  python3 app.py\n"
    "python:   3.12.1\n"
    "mode:     cpu, sampling at 100 Hz\n"
    "samples:  12 in 0.07 s\n"
    "rate:     85.7 Hz achieved (6 ticks)\n"
    "missed:   1 tick, 0 failed reads\n";

}  // namespace

TEST_CASE("the report nests the merged tree, largest DEEP first", "[text]") {
    CHECK(format_text_report(small_profile()) == std::string(kHeader) +
          "\n"
          "All 2 threads merged: 12 samples\n"
          "FUNCTION                     OWN      %  DEEP      %\n"
          "main (app.py:1)                2  16.7%    11  91.7%\n"
          "  Server.handle (app.py:10)    1   8.3%     6  50.0%\n"
          "    parse (lib.py:20)          5  41.7%     5  41.7%\n"
          "  idle (app.py:30)             3  25.0%     3  25.0%\n"
          "(no Python frame)              1   8.3%     1   8.3%\n");
}

TEST_CASE("the report can show one tree per thread", "[text]") {
    TextReportOptions options;
    options.per_thread = true;
    CHECK(format_text_report(small_profile(), options) == std::string(kHeader) +
          "\n"
          "Thread 0x10 (native 4243) \"MainThread\": 6 samples\n"
          "FUNCTION                     OWN      %  DEEP      %\n"
          "main (app.py:1)                0   0.0%     6 100.0%\n"
          "  Server.handle (app.py:10)    1  16.7%     6 100.0%\n"
          "    parse (lib.py:20)          5  83.3%     5  83.3%\n"
          "\n"
          "Thread 0x2a: 6 samples\n"
          "FUNCTION            OWN      %  DEEP      %\n"
          "main (app.py:1)       2  33.3%     5  83.3%\n"
          "  idle (app.py:30)    3  50.0%     3  50.0%\n"
          "(no Python frame)     1  16.7%     1  16.7%\n");
}

TEST_CASE("nodes below the threshold and beyond the depth limit are hidden and counted", "[text]") {
    Profile profile = small_profile();
    TextReportOptions options;
    options.threshold_percent = 30;
    std::string report = format_text_report(profile, options);
    CHECK(report.substr(report.find("FUNCTION")) ==
          "FUNCTION                     OWN      %  DEEP      %\n"
          "main (app.py:1)                2  16.7%    11  91.7%\n"
          "  Server.handle (app.py:10)    1   8.3%     6  50.0%\n"
          "    parse (lib.py:20)          5  41.7%     5  41.7%\n"
          "(2 nodes below 30% of the samples hidden)\n");

    options.threshold_percent = 0;
    options.max_depth = 1;
    report = format_text_report(profile, options);
    CHECK(report.substr(report.find("FUNCTION")) ==
          "FUNCTION           OWN      %  DEEP      %\n"
          "main (app.py:1)      2  16.7%    11  91.7%\n"
          "(no Python frame)    1   8.3%     1   8.3%\n"
          "(3 nodes deeper than 1 level hidden)\n");

    // The default threshold, 0.1%, hides 1 sample in 4,000 with all it calls.
    Profile many;
    FrameId hot = many.frames.intern({"hot", std::nullopt, "h.py", 1});
    FrameId warm = many.frames.intern({"warm", std::nullopt, "w.py", 1});
    FrameId cold = many.frames.intern({"cold", std::nullopt, "c.py", 1});
    FrameId colder = many.frames.intern({"colder", std::nullopt, "c.py", 5});
    many.thread(1).tree.add(std::vector<FrameId>{hot}, 2, 3000);
    many.thread(2).tree.add(std::vector<FrameId>{warm}, 2, 999);
    many.thread(1).tree.add(std::vector<FrameId>{cold, colder}, 6, 1);
    report = format_text_report(many);
    CHECK(report.substr(report.find("FUNCTION")) ==
          "FUNCTION        OWN      %  DEEP      %\n"
          "hot (h.py:1)   3000  75.0%  3000  75.0%\n"
          "warm (w.py:1)   999  25.0%   999  25.0%\n"
          "(2 nodes below 0.1% of the samples hidden)\n");
}

TEST_CASE("equal DEEP counts sort by label; an empty profile says so", "[text]") {
    Profile profile;
    FrameId b = profile.frames.intern({"b", std::nullopt, "x.py", 1});
    FrameId a = profile.frames.intern({"a", std::nullopt, "x.py", 1});
    profile.thread(1).tree.add(std::vector<FrameId>{b}, 1, 2);
    profile.thread(1).tree.add(std::vector<FrameId>{a}, 1, 2);
    std::string report = format_text_report(profile);
    CHECK(report.substr(report.find("FUNCTION")) ==
          "FUNCTION    OWN      %  DEEP      %\n"
          "a (x.py:1)    2  50.0%     2  50.0%\n"
          "b (x.py:1)    2  50.0%     2  50.0%\n");

    CHECK(format_text_report(Profile{}) ==
          "pid:      0\n"
          "command:  (unknown)\n"
          "python:   (unknown)\n"
          "mode:     (unknown), sampling\n"
          "samples:  0 in 0.00 s\n"
          "rate:     unknown (0 ticks, no duration)\n"
          "missed:   0 ticks, 0 failed reads\n"
          "\n"
          "All 0 threads merged: 0 samples\n"
          "(no samples)\n");
}

TEST_CASE("a 16,000-deep recursion is reported without recursion, its indentation capped", "[text]") {
    constexpr std::size_t kDepth = 16000;
    Profile profile;
    FrameId f = profile.frames.intern({"f", std::nullopt, "r.py", 1});
    profile.thread(1).tree.add(std::vector<FrameId>(kDepth, f), 2, 3);
    std::string report = format_text_report(profile);
    std::istringstream lines(report.substr(report.find("FUNCTION")));
    std::vector<std::string> rows;
    for (std::string line; std::getline(lines, line);) rows.push_back(line);
    REQUIRE(rows.size() == kDepth + 1);
    CHECK(rows[1].starts_with("f (r.py:1) "));
    CHECK(rows[2].starts_with("  f (r.py:1) "));
    CHECK(rows[50].starts_with(std::string(98, ' ') + "f (r.py:1) "));
    CHECK(rows[51].starts_with(std::string(100, ' ') + "[51] f (r.py:1) "));
    CHECK(rows[kDepth].starts_with(std::string(100, ' ') + "[16000] f (r.py:1) "));
    CHECK(rows[kDepth].ends_with("    3 100.0%     3 100.0%"));
    std::size_t longest = 0;
    for (const std::string& row : rows) longest = std::max(longest, row.size());
    CHECK(longest < 200);
}

TEST_CASE("a tracing profile shows CALLS, times and per-call times") {
    Profile profile;
    profile.info.kind = "tracing";
    profile.info.mode = "thread";
    profile.info.pid = 7;
    profile.info.command = "python3 fib.py";
    profile.info.python_version = "3.12.1";
    profile.info.duration_s = 0.5;
    const FrameId main_frame = profile.frames.intern({"main", std::nullopt, "fib.py", 1});
    const FrameId fib_frame = profile.frames.intern({"fib", std::nullopt, "fib.py", 5});
    CallTree& tree = profile.thread(1).tree;
    tree.add(std::vector<FrameId>{main_frame}, 2, 1'000'000);            // 1 ms
    tree.add(std::vector<FrameId>{main_frame, fib_frame}, 6, 3'000'000); // 3 ms in 4 calls
    tree.node(*tree.find_child(CallTree::kRoot, main_frame)).calls = 1;
    tree.node(*tree.find_child(*tree.find_child(CallTree::kRoot, main_frame), fib_frame)).calls = 4;
    const std::string report = format_text_report(profile);
    CHECK(report.find("mode:     tracing, thread timer\n") != std::string::npos);
    CHECK(report.find("traced:   4.00ms in 0.50 s\n") != std::string::npos);
    CHECK(report.find("All 1 thread merged: 4.00ms\n") != std::string::npos);
    CHECK(report.substr(report.find("FUNCTION")) ==
          "FUNCTION          CALLS     OWN  /CALL      %    DEEP  /CALL      %\n"
          "main (fib.py:1)       1  1.00ms 1.00ms  25.0%  4.00ms 4.00ms 100.0%\n"
          "  fib (fib.py:5)      4  3.00ms  750µs  75.0%  3.00ms  750µs  75.0%\n");
}
