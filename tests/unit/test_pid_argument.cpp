// Process ids typed on the command line: a positive integer or one line saying why not.
#include "src/commands/pid_argument.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace profiling;

TEST_CASE("a pid is a positive decimal integer within Linux's limit", "[pid]") {
    std::string why;
    CHECK(parse_pid("1", why) == 1);
    CHECK(parse_pid("4242", why) == 4242);
    CHECK(parse_pid("004242", why) == 4242);
    CHECK(parse_pid("4194304", why) == 4194304);
}

TEST_CASE("anything else is refused with one line naming it", "[pid]") {
    for (const char* text : {"abc", "-5", "0", "000", "1.5", "", " 5", "5 ", "+5", "0x10", "1e3", "12abc"}) {
        CAPTURE(text);
        std::string why;
        CHECK_FALSE(parse_pid(text, why));
        CHECK(why == "not a process id: '" + std::string(text) + "' (expected a positive integer)");
    }
    for (const char* text : {"4194305", "99999999999999999999", "18446744073709551617"}) {
        CAPTURE(text);
        std::string why;
        CHECK_FALSE(parse_pid(text, why));
        CHECK(why == "not a process id: '" + std::string(text) + "' (Linux process ids are at most 4194304)");
    }
}

TEST_CASE("what is quoted back stays one short line", "[pid]") {
    std::string why;
    CHECK_FALSE(parse_pid("12\n34\r\x1b[2J", why));
    CHECK(why.find('\n') == std::string::npos);
    CHECK(why.find('\x1b') == std::string::npos);
    CHECK_FALSE(parse_pid(std::string(5000, '7'), why));
    CHECK(why.size() < 120);
}
