// Collapsed stacks for flamegraph.pl, inferno and speedscope.
#include "src/format/collapsed_stacks.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

using namespace profiling;

namespace {

// main -> handle -> parse, main -> handle, main -> idle over two threads.
Profile small_profile() {
    Profile profile;
    FrameId main_frame = profile.frames.intern({"main", std::string("main"), "app.py", 1});
    FrameId handle = profile.frames.intern({"handle", std::string("Server.handle"), "app.py", 10});
    FrameId parse = profile.frames.intern({"parse", std::nullopt, "lib.py", 20});
    FrameId idle = profile.frames.intern({"idle", std::string("idle"), "app.py", 30});
    ThreadProfile& main_thread = profile.thread(0x10);
    main_thread.name = "MainThread";
    main_thread.tree.add(std::vector<FrameId>{main_frame, handle, parse}, 21, 5);
    main_thread.tree.add(std::vector<FrameId>{main_frame, handle}, 11, 3);
    ThreadProfile& worker = profile.thread(0x2a);
    worker.tree.add(std::vector<FrameId>{main_frame, idle}, 31, 2);
    worker.tree.add(std::vector<FrameId>{main_frame, handle, parse}, 22, 1);
    return profile;
}

}  // namespace

TEST_CASE("collapsed stacks merge every thread, one sorted line per stack with own samples", "[collapsed]") {
    CHECK(collapsed_stacks(small_profile()) ==
          "main (app.py:1);Server.handle (app.py:10) 3\n"
          "main (app.py:1);Server.handle (app.py:10);parse (lib.py:20) 6\n"
          "main (app.py:1);idle (app.py:30) 2\n");
}

TEST_CASE("collapsed stacks can start with a frame per thread", "[collapsed]") {
    CollapsedOptions options;
    options.per_thread = true;
    CHECK(collapsed_stacks(small_profile(), options) ==
          "thread 0x2a;main (app.py:1);Server.handle (app.py:10);parse (lib.py:20) 1\n"
          "thread 0x2a;main (app.py:1);idle (app.py:30) 2\n"
          "thread MainThread;main (app.py:1);Server.handle (app.py:10) 3\n"
          "thread MainThread;main (app.py:1);Server.handle (app.py:10);parse (lib.py:20) 5\n");
}

TEST_CASE("threads sharing a name are told apart; samples without frames are the thread alone", "[collapsed]") {
    Profile profile;
    FrameId f = profile.frames.intern({"f", std::nullopt, "x.py", 1});
    for (std::uint64_t id : {0xa, 0xb}) {
        ThreadProfile& thread = profile.thread(id);
        thread.name = "worker";
        thread.tree.add(std::vector<FrameId>{f}, 2, id);
    }
    profile.thread(0xb).tree.add({}, 0, 4);
    CollapsedOptions options;
    options.per_thread = true;
    CHECK(collapsed_stacks(profile, options) ==
          "thread worker (0xa);f (x.py:1) 10\n"
          "thread worker (0xb) 4\n"
          "thread worker (0xb);f (x.py:1) 11\n");
    // Merged, a stack with no frame cannot be drawn and is left out.
    CHECK(collapsed_stacks(profile) == "f (x.py:1) 21\n");
}

TEST_CASE("frames are escaped so that each stays one frame of one line", "[collapsed]") {
    CHECK(collapsed_frame_text("a;b (dir;x/f.py:3)") == "a:b (dir:x/f.py:3)");
    CHECK(collapsed_frame_text("line\nbreak\ttab\rcr\x01" "end") == "line break tab cr end");
    CHECK(collapsed_frame_text("with spaces (/my dir/f.py:1)") == "with spaces (/my dir/f.py:1)");
    CHECK(collapsed_frame_text("ünïcødé 函数 🐍") == "ünïcødé 函数 🐍");

    Profile profile;
    FrameId odd = profile.frames.intern({"x", std::string("weird;name\n"), "/my dir/a;b.py", 7});
    FrameId same_text = profile.frames.intern({"y", std::string("weird:name "), "/my dir/a:b.py", 7});
    ThreadProfile& thread = profile.thread(1);
    thread.name = "a;b\tc";
    thread.tree.add(std::vector<FrameId>{odd}, 7, 2);
    thread.tree.add(std::vector<FrameId>{same_text}, 7, 3);
    // Two frames whose escaped text coincides fall into one line.
    CHECK(collapsed_stacks(profile) == "weird:name  (/my dir/a:b.py:7) 5\n");
    CollapsedOptions options;
    options.per_thread = true;
    CHECK(collapsed_stacks(profile, options) == "thread a:b c;weird:name  (/my dir/a:b.py:7) 5\n");

    // The count is what follows the last space; the frames are what ';' separates.
    std::istringstream lines(collapsed_stacks(small_profile(), options));
    std::string line;
    while (std::getline(lines, line)) {
        auto space = line.rfind(' ');
        REQUIRE(space != std::string::npos);
        CHECK(std::stoull(line.substr(space + 1)) > 0);
        CHECK(line.substr(space + 1).find_first_not_of("0123456789") == std::string::npos);
    }
}

TEST_CASE("an empty profile gives no lines; a 16,000-deep stack gives one", "[collapsed]") {
    CHECK(collapsed_stacks(Profile{}).empty());
    Profile profile;
    FrameId f = profile.frames.intern({"f", std::nullopt, "r.py", 1});
    profile.thread(1).tree.add(std::vector<FrameId>(16000, f), 2, 7);
    std::string text = collapsed_stacks(profile);
    CHECK(std::count(text.begin(), text.end(), '\n') == 1);
    CHECK(std::count(text.begin(), text.end(), ';') == 15999);
    CHECK(text.ends_with("f (r.py:1) 7\n"));
}

TEST_CASE("write_collapsed_stacks writes the same text to a file", "[collapsed]") {
    std::string pattern = (std::filesystem::temp_directory_path() / "profiling-test-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    std::string path = pattern + "/out.folded";
    write_collapsed_stacks(small_profile(), path, {});
    std::ifstream in(path, std::ios::binary);
    std::string written{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    CHECK(written == collapsed_stacks(small_profile()));
    std::filesystem::remove_all(pattern);
}
