// The attach progress line: its text, drawn only on a terminal (a pty here),
// at most four times a second, and erased without a trace.
#include "src/commands/progress_line.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string>
#include <thread>
#include <unistd.h>

using namespace profiling;

namespace {

// Everything the terminal side has received so far.
std::string drain(int master) {
    std::string got;
    char buffer[256];
    pollfd p{master, POLLIN, 0};
    while (::poll(&p, 1, 50) > 0) {
        ssize_t n = ::read(master, buffer, sizeof buffer);
        if (n <= 0) break;
        got.append(buffer, static_cast<std::size_t>(n));
    }
    return got;
}

}  // namespace

TEST_CASE("the progress text", "[progress]") {
    CHECK(format_progress(4242, 12345, 12.34) == "pid 4242 · 12,345 samples · 12.3 s · Ctrl-C to stop");
    CHECK(format_progress(7, 0, 0) == "pid 7 · 0 samples · 0.0 s · Ctrl-C to stop");
    CHECK(format_progress(7, 1, 0.05) == "pid 7 · 1 sample · 0.1 s · Ctrl-C to stop");
    CHECK(format_progress(7, 1234567890, 3600) == "pid 7 · 1,234,567,890 samples · 3600.0 s · Ctrl-C to stop");
}

TEST_CASE("nothing is written where stderr is not a terminal", "[progress]") {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    {
        ProgressLine line(fds[1]);
        CHECK_FALSE(line.enabled());
        line.show("pid 1 · 2 samples");
        line.clear();
    }
    ::close(fds[1]);
    char c;
    CHECK(::read(fds[0], &c, 1) == 0);
    ::close(fds[0]);
}

TEST_CASE("on a terminal the line is redrawn in place, throttled, and erased", "[progress]") {
    int master = ::posix_openpt(O_RDWR | O_NOCTTY);
    REQUIRE(master >= 0);
    REQUIRE(::grantpt(master) == 0);
    REQUIRE(::unlockpt(master) == 0);
    int terminal = ::open(::ptsname(master), O_RDWR | O_NOCTTY);
    REQUIRE(terminal >= 0);
    {
        ProgressLine line(terminal);
        REQUIRE(line.enabled());
        line.show("abcdef");
        CHECK(drain(master) == "\rabcdef");
        line.show("xyz");   // within 250 ms: not drawn
        CHECK(drain(master).empty());
        std::this_thread::sleep_for(std::chrono::milliseconds(260));
        line.show("xyz");   // shorter: what the longer one left is blanked
        CHECK(drain(master) == "\rxyz   \rxyz");
        line.clear();
        CHECK(drain(master) == "\r   \r");
        line.clear();   // twice: nothing more
        line.show("again");   // after a clear it is drawn at once
        CHECK(drain(master) == "\ragain");
    }   // the destructor erases it
    CHECK(drain(master) == "\r     \r");
    ::close(terminal);
    ::close(master);
}
