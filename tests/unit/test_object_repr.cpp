// The reprs `dump --locals` computes without the target: floats and ints.
#include "attach/object_repr.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>

using profiling::attach::decimal_from_digits;
using profiling::attach::python_float_repr;

TEST_CASE("float repr follows Python's repr()") {
    CHECK(python_float_repr(0.1) == "0.1");
    CHECK(python_float_repr(3.0) == "3.0");
    CHECK(python_float_repr(-0.0) == "-0.0");
    CHECK(python_float_repr(1e22) == "1e+22");
    CHECK(python_float_repr(1e16) == "1e+16");
    CHECK(python_float_repr(1234567890123456.0) == "1234567890123456.0");
    CHECK(python_float_repr(123456789012345678.0) == "1.2345678901234568e+17");
    CHECK(python_float_repr(1.5e-7) == "1.5e-07");
    CHECK(python_float_repr(0.0001) == "0.0001");
    CHECK(python_float_repr(0.00001) == "1e-05");
    CHECK(python_float_repr(1.0 / 3) == "0.3333333333333333");
    CHECK(python_float_repr(5e-324) == "5e-324");
    CHECK(python_float_repr(1.0 / 0.0) == "inf");
    CHECK(python_float_repr(-1.0 / 0.0) == "-inf");
}

TEST_CASE("float repr round-trips for random doubles") {
    std::mt19937_64 random(12345);
    for (int i = 0; i < 20000; ++i) {
        std::uint64_t bits = random();
        double value;
        std::memcpy(&value, &bits, sizeof value);
        if (value != value) continue;   // nan
        std::string text = python_float_repr(value);
        if (text == "inf" || text == "-inf") continue;
        CHECK(std::strtod(text.c_str(), nullptr) == value);
    }
}

TEST_CASE("int digits become decimal text") {
    CHECK(decimal_from_digits({5}, false) == "5");
    CHECK(decimal_from_digits({5}, true) == "-5");
    // 2**100 in 30-bit digits: 2**100 = 2**(30*3) * 2**10
    CHECK(decimal_from_digits({0, 0, 0, 1024}, false) == "1267650600228229401496703205376");
    // 10**9 exactly: the chunk boundary
    CHECK(decimal_from_digits({1000000000u & ((1u << 30) - 1)}, false) == "1000000000");
    std::mt19937_64 random(7);
    for (int i = 0; i < 2000; ++i) {
        std::uint64_t value = random() >> (random() % 64);
        std::vector<std::uint32_t> digits;
        for (std::uint64_t v = value; v != 0; v >>= 30) digits.push_back(static_cast<std::uint32_t>(v & ((1u << 30) - 1)));
        CHECK(decimal_from_digits(digits, false) == std::to_string(value));
    }
}
