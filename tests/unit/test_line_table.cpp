// Line-table decoders, checked against fixtures recorded from real
// interpreters (tests/unit/fixtures/make_line_table_fixtures.py) and against
// hand-written tables for edge cases and malformed input.
#include "attach/line_table.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#ifndef PROFILING_TEST_DATA_DIR
#error "PROFILING_TEST_DATA_DIR must point at tests/unit/data"
#endif

namespace {

using profiling::attach::decode_line_table;
using profiling::attach::kNoLine;
using profiling::attach::line_at;
using profiling::attach::LineRange;
using profiling::attach::LineTableFormat;

constexpr std::uint32_t kEnd = std::numeric_limits<std::uint32_t>::max();

std::vector<LineRange> decode(LineTableFormat format, const std::vector<std::uint8_t>& bytes,
                              std::int32_t first_line) {
    return decode_line_table(format, std::span<const std::uint8_t>(bytes.data(), bytes.size()),
                             first_line);
}

// The line of the range holding `offset`, or nullopt when no range holds it.
std::optional<std::int32_t> range_line(const std::vector<LineRange>& ranges, std::uint32_t offset) {
    for (const LineRange& r : ranges) {
        if (r.start <= offset && offset < r.end) {
            return r.line;
        }
    }
    return std::nullopt;
}

// Sorted, non-empty, disjoint, and adjacent ranges with equal lines merged.
std::string check_invariants(const std::vector<LineRange>& ranges) {
    for (std::size_t i = 0; i < ranges.size(); ++i) {
        const LineRange& r = ranges[i];
        if (r.start >= r.end) {
            return "range " + std::to_string(i) + " is empty";
        }
        if (i > 0) {
            const LineRange& prev = ranges[i - 1];
            if (prev.end > r.start) {
                return "range " + std::to_string(i) + " overlaps or is out of order";
            }
            if (prev.end == r.start && prev.line == r.line) {
                return "ranges " + std::to_string(i - 1) + " and " + std::to_string(i) +
                       " should have been merged";
            }
        }
    }
    return {};
}

std::optional<LineTableFormat> parse_format(const std::string& name) {
    if (name == "LnotabUnsigned") return LineTableFormat::LnotabUnsigned;
    if (name == "LnotabSigned") return LineTableFormat::LnotabSigned;
    if (name == "Linetable310") return LineTableFormat::Linetable310;
    if (name == "Locations311") return LineTableFormat::Locations311;
    return std::nullopt;
}

std::vector<std::uint8_t> from_hex(const std::string& hex) {
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    std::vector<std::uint8_t> out;
    if (hex.size() % 2 != 0) {
        return out;
    }
    for (std::size_t i = 0; i < hex.size(); i += 2) {
        const int hi = nibble(hex[i]);
        const int lo = nibble(hex[i + 1]);
        if (hi < 0 || lo < 0) {
            return {};
        }
        out.push_back(static_cast<std::uint8_t>(hi * 16 + lo));
    }
    return out;
}

std::vector<std::filesystem::path> fixture_files() {
    std::vector<std::filesystem::path> files;
    const std::filesystem::path dir = std::filesystem::path(PROFILING_TEST_DATA_DIR) / "line_tables";
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
        if (entry.path().extension() == ".json") {
            files.push_back(entry.path());
        }
    }
    std::sort(files.begin(), files.end());
    return files;
}

struct FixtureResult {
    std::size_t codes = 0;
    std::size_t offsets = 0;
    std::string first_error;  // empty: everything matched
};

// Checks every recorded offset of every code object in one fixture file.
FixtureResult check_fixture(const std::filesystem::path& path) {
    FixtureResult result;
    auto fail = [&](const std::string& msg) {
        if (result.first_error.empty()) {
            result.first_error = path.filename().string() + ": " + msg;
        }
    };

    std::ifstream in(path);
    const nlohmann::json doc = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded() || !doc.is_object()) {
        fail("not valid JSON");
        return result;
    }
    const std::string python = doc.value("python", std::string("?"));
    const auto format = parse_format(doc.value("format", std::string()));
    if (!format) {
        fail("unknown table format");
        return result;
    }

    for (const auto& code : doc.at("codes")) {
        ++result.codes;
        const std::string name = code.at("name").get<std::string>();
        const auto first_line = code.at("first_line").get<std::int32_t>();
        const auto unit = code.at("unit").get<std::uint32_t>();
        const auto code_size = code.at("code_size").get<std::uint32_t>();
        const std::string where = "Python " + python + ", code " + name;

        const std::vector<std::uint8_t> table = from_hex(code.at("table").get<std::string>());
        const std::vector<LineRange> ranges = decode(*format, table, first_line);
        if (const std::string bad = check_invariants(ranges); !bad.empty()) {
            fail(where + ": " + bad);
            return result;
        }

        std::uint32_t offset = 0;
        for (const auto& run : code.at("lines")) {
            const auto count = run.at(1).get<std::uint32_t>();
            const bool no_line = run.at(0).is_null();
            const std::int32_t expected = no_line ? kNoLine : run.at(0).get<std::int32_t>();
            for (std::uint32_t i = 0; i < count; ++i, offset += unit) {
                ++result.offsets;
                const auto decoded = range_line(ranges, offset);
                const std::int32_t looked_up = line_at(ranges, offset, first_line);
                // No-line instructions must land in a kNoLine range, and
                // line_at reports them as first_line (see line_table.hpp).
                const std::int32_t expected_lookup = no_line ? first_line : expected;
                if (!decoded || *decoded != expected || looked_up != expected_lookup) {
                    std::ostringstream msg;
                    msg << where << ", offset " << offset << ": interpreter says "
                        << (no_line ? std::string("no line") : std::to_string(expected))
                        << ", decoded range says "
                        << (!decoded ? std::string("<no range>")
                                     : *decoded == kNoLine ? std::string("no line")
                                                           : std::to_string(*decoded))
                        << ", line_at says " << looked_up;
                    fail(msg.str());
                    return result;
                }
            }
        }
        if (offset != code_size) {
            fail(where + ": runs cover " + std::to_string(offset) + " bytes, code has " +
                 std::to_string(code_size));
            return result;
        }
    }
    return result;
}

}  // namespace

TEST_CASE("line tables decode like the interpreters that wrote them", "[line_table]") {
    const auto files = fixture_files();
    REQUIRE_FALSE(files.empty());
    for (const auto& path : files) {
        const FixtureResult result = check_fixture(path);
        INFO(path.filename().string() << ": " << result.codes << " code objects, "
                                      << result.offsets << " offsets checked");
        if (!result.first_error.empty()) {
            FAIL(result.first_error);
        }
        CHECK(result.codes > 0);
        CHECK(result.offsets > 0);
    }
}

TEST_CASE("empty tables", "[line_table]") {
    const std::vector<std::uint8_t> empty;

    SECTION("lnotab: everything is on the first line") {
        for (auto format : {LineTableFormat::LnotabUnsigned, LineTableFormat::LnotabSigned}) {
            const auto ranges = decode(format, empty, 7);
            REQUIRE(ranges.size() == 1);
            CHECK(ranges[0].start == 0);
            CHECK(ranges[0].end == kEnd);
            CHECK(ranges[0].line == 7);
            CHECK(line_at(ranges, 0, 7) == 7);
            CHECK(line_at(ranges, 1000, 7) == 7);
        }
    }
    SECTION("3.10 and 3.11+: no ranges, lookups give first_line") {
        for (auto format : {LineTableFormat::Linetable310, LineTableFormat::Locations311}) {
            const auto ranges = decode(format, empty, 7);
            CHECK(ranges.empty());
            CHECK(line_at(ranges, 0, 7) == 7);
            CHECK(line_at(ranges, 2, 7) == 7);
        }
    }
    SECTION("line_at on no ranges at all") {
        CHECK(line_at({}, -1, 3) == 3);
        CHECK(line_at({}, 0, 3) == 3);
        CHECK(line_at({}, std::numeric_limits<std::int64_t>::max(), 3) == 3);
    }
}

TEST_CASE("lnotab semantics", "[line_table]") {
    SECTION("negative line increment (3.8 signed lnotab)") {
        // (6, +2), (4, -2): [0,6) 500, [6,10) 502, [10,inf) 500
        const std::vector<std::uint8_t> table{6, 2, 4, 0xfe};
        const auto ranges = decode(LineTableFormat::LnotabSigned, table, 500);
        REQUIRE(ranges.size() == 3);
        CHECK(line_at(ranges, 0, 500) == 500);
        CHECK(line_at(ranges, 5, 500) == 500);
        CHECK(line_at(ranges, 6, 500) == 502);
        CHECK(line_at(ranges, 9, 500) == 502);
        CHECK(line_at(ranges, 10, 500) == 500);
        CHECK(line_at(ranges, 5000, 500) == 500);
    }
    SECTION("the same bytes are an unsigned increment on 2.7") {
        const std::vector<std::uint8_t> table{6, 2, 4, 0xfe};
        const auto ranges = decode(LineTableFormat::LnotabUnsigned, table, 500);
        CHECK(line_at(ranges, 9, 500) == 502);
        CHECK(line_at(ranges, 10, 500) == 502 + 254);
    }
    SECTION("a large negative jump split into several -128 pairs") {
        // 3.8 writes line -300 as (2, -128), (0, -128), (0, -44).
        const std::vector<std::uint8_t> table{0, 127, 0, 127, 0, 46, 2, 0x80, 0, 0x80, 0, 0xd4};
        const auto ranges = decode(LineTableFormat::LnotabSigned, table, 10);
        CHECK(line_at(ranges, 0, 10) == 310);
        CHECK(line_at(ranges, 1, 10) == 310);
        CHECK(line_at(ranges, 2, 10) == 10);
        CHECK(check_invariants(ranges).empty());
    }
    SECTION("long address runs and line-only pairs merge into one range per line") {
        // (0, +1), (255, 0), (255, 0), (45, +1): line 2 covers [0, 555)
        const std::vector<std::uint8_t> table{0, 1, 255, 0, 255, 0, 45, 1};
        const auto ranges = decode(LineTableFormat::LnotabUnsigned, table, 1);
        REQUIRE(ranges.size() == 2);
        CHECK(ranges[0].start == 0);
        CHECK(ranges[0].end == 555);
        CHECK(ranges[0].line == 2);
        CHECK(ranges[1].start == 555);
        CHECK(ranges[1].end == kEnd);
        CHECK(ranges[1].line == 3);
    }
    SECTION("a trailing odd byte is ignored") {
        const std::vector<std::uint8_t> table{4, 1, 9};
        const auto ranges = decode(LineTableFormat::LnotabSigned, table, 1);
        CHECK(line_at(ranges, 3, 1) == 1);
        CHECK(line_at(ranges, 4, 1) == 2);
        CHECK(line_at(ranges, 100, 1) == 2);
    }
    SECTION("offset -1 and huge offsets") {
        const std::vector<std::uint8_t> table{4, 3};
        const auto ranges = decode(LineTableFormat::LnotabSigned, table, 20);
        CHECK(line_at(ranges, -1, 20) == 20);
        CHECK(line_at(ranges, std::numeric_limits<std::int64_t>::min(), 20) == 20);
        // The last lnotab line holds for every larger offset, as in PyCode_Addr2Line.
        CHECK(line_at(ranges, kEnd - 1, 20) == 23);
        CHECK(line_at(ranges, kEnd, 20) == 23);
        CHECK(line_at(ranges, std::int64_t{1} << 40, 20) == 23);
        CHECK(line_at(ranges, std::numeric_limits<std::int64_t>::max(), 20) == 23);
    }
}

TEST_CASE("3.10 linetable semantics", "[line_table]") {
    SECTION("-128 marks a range without a line and keeps the running line") {
        // (2,0) [0,2) 10; (4,-128) [2,6) none; (6,+1) [6,12) 11;
        // (0,+5) line 16, no bytes; (2,-128) [12,14) none; (2,0) [14,16) 16
        const std::vector<std::uint8_t> table{2, 0, 4, 0x80, 6, 1, 0, 5, 2, 0x80, 2, 0};
        const auto ranges = decode(LineTableFormat::Linetable310, table, 10);
        CHECK(check_invariants(ranges).empty());
        CHECK(range_line(ranges, 0) == 10);
        CHECK(range_line(ranges, 2) == kNoLine);
        CHECK(range_line(ranges, 5) == kNoLine);
        CHECK(range_line(ranges, 6) == 11);
        CHECK(range_line(ranges, 12) == kNoLine);
        CHECK(range_line(ranges, 14) == 16);
        CHECK(line_at(ranges, 3, 10) == 10);   // no line -> first_line
        CHECK(line_at(ranges, 8, 10) == 11);
        CHECK(line_at(ranges, 13, 10) == 10);
        CHECK(line_at(ranges, 15, 10) == 16);
        CHECK(line_at(ranges, 16, 10) == 10);  // past the table
        CHECK(line_at(ranges, -1, 10) == 10);
        CHECK(line_at(ranges, std::numeric_limits<std::int64_t>::max(), 10) == 10);
    }
    SECTION("negative deltas") {
        const std::vector<std::uint8_t> table{2, 5, 2, 0xfb};
        const auto ranges = decode(LineTableFormat::Linetable310, table, 3);
        CHECK(line_at(ranges, 0, 3) == 8);
        CHECK(line_at(ranges, 2, 3) == 3);
    }
}

TEST_CASE("3.11+ location table semantics", "[line_table]") {
    // Entry header: 0x80 | code << 3 | (length_in_units - 1).
    auto header = [](unsigned code, unsigned units) {
        return static_cast<std::uint8_t>(0x80 | (code << 3) | (units - 1));
    };

    SECTION("every entry kind") {
        const std::vector<std::uint8_t> table{
            header(13, 1), 0x02,                   // no columns, line +1        [0,2)   11
            header(0, 2), 0x12,                    // short form, same line      [2,6)   11
            header(11, 1), 4, 9,                   // one-line form, +1          [6,8)   12
            header(12, 3), 0, 3,                   // one-line form, +2          [8,14)  14
            header(15, 2),                         // no location                [14,18) none
            header(14, 1), 0x07, 0x00, 0x01, 0x05, // long form, line -3         [18,20) 11
            header(10, 8), 1, 2,                   // one-line form, +0          [20,36) 11
        };
        const auto ranges = decode(LineTableFormat::Locations311, table, 10);
        CHECK(check_invariants(ranges).empty());
        CHECK(range_line(ranges, 0) == 11);
        CHECK(range_line(ranges, 4) == 11);
        CHECK(range_line(ranges, 6) == 12);
        CHECK(range_line(ranges, 8) == 14);
        CHECK(range_line(ranges, 12) == 14);
        CHECK(range_line(ranges, 14) == kNoLine);
        CHECK(range_line(ranges, 18) == 11);
        CHECK(range_line(ranges, 34) == 11);
        CHECK(range_line(ranges, 36) == std::nullopt);
        CHECK(line_at(ranges, 16, 10) == 10);  // no location -> first_line
        CHECK(line_at(ranges, 36, 10) == 10);  // past the table
        CHECK(line_at(ranges, -1, 10) == 10);
        CHECK(line_at(ranges, std::int64_t{1} << 40, 10) == 10);
        // [0,6) merges into one range; [18,36) too.
        CHECK(ranges.size() == 5);
    }
    SECTION("negative line delta (no-columns and long forms)") {
        // svarint -3 = varint 7; svarint -70 = varint 141 = 0x4d 0x02
        const std::vector<std::uint8_t> table{header(13, 1), 0x07, header(14, 1), 0x4d, 0x02, 0, 1, 2};
        const auto ranges = decode(LineTableFormat::Locations311, table, 100);
        CHECK(line_at(ranges, 0, 100) == 97);
        CHECK(line_at(ranges, 2, 100) == 27);
    }
    SECTION("multi-byte varints") {
        // line delta +300 = svarint 600: low group 0x18 with 0x40 (more), then 600 >> 6 = 9
        const std::vector<std::uint8_t> table{header(13, 1), 0x18 | 0x40, 0x09};
        const auto ranges = decode(LineTableFormat::Locations311, table, 1);
        CHECK(line_at(ranges, 0, 1) == 301);
    }
    SECTION("a varint truncated by the end of the table drops the entry") {
        const std::vector<std::uint8_t> table{header(0, 1), 0x01, header(13, 1), 0x42};
        const auto ranges = decode(LineTableFormat::Locations311, table, 5);
        REQUIRE(ranges.size() == 1);
        CHECK(ranges[0].end == 2);
        CHECK(line_at(ranges, 2, 5) == 5);
    }
    SECTION("a long form whose columns are cut off keeps its known line, then stops") {
        const std::vector<std::uint8_t> table{header(14, 1), 0x04, 0x00, 0x41};
        const auto ranges = decode(LineTableFormat::Locations311, table, 5);
        REQUIRE(ranges.size() == 1);
        CHECK(ranges[0].line == 7);
    }
    SECTION("cut-off column bytes") {
        const std::vector<std::uint8_t> one_line{header(11, 1), 0x01};
        CHECK(decode(LineTableFormat::Locations311, one_line, 5).size() == 1);
        const std::vector<std::uint8_t> short_form{header(3, 1)};
        CHECK(decode(LineTableFormat::Locations311, short_form, 5).size() == 1);
    }
    SECTION("an over-long varint stops decoding") {
        std::vector<std::uint8_t> table{header(0, 1), 0x00, header(13, 1)};
        table.insert(table.end(), 12, 0x7f);
        table.push_back(0x01);
        const auto ranges = decode(LineTableFormat::Locations311, table, 5);
        REQUIRE(ranges.size() == 1);
        CHECK(ranges[0].end == 2);
    }
    SECTION("a byte without the top bit where an entry should start stops decoding") {
        const std::vector<std::uint8_t> table{header(0, 1), 0x00, 0x00, header(11, 1), 0, 0};
        const auto ranges = decode(LineTableFormat::Locations311, table, 5);
        REQUIRE(ranges.size() == 1);
        CHECK(ranges[0].end == 2);
        CHECK(line_at(ranges, 2, 5) == 5);
    }
}

TEST_CASE("random bytes never crash the decoders", "[line_table]") {
    std::mt19937 rng(12345);
    std::uniform_int_distribution<int> byte(0, 255);
    std::uniform_int_distribution<int> length(0, 64);
    for (int iteration = 0; iteration < 4000; ++iteration) {
        std::vector<std::uint8_t> table(static_cast<std::size_t>(length(rng)));
        for (auto& b : table) {
            b = static_cast<std::uint8_t>(byte(rng));
            // Bias towards plausible 3.11 entry headers now and then.
            if (iteration % 2 == 0 && (b & 3) == 0) {
                b |= 0x80;
            }
        }
        for (auto format : {LineTableFormat::LnotabUnsigned, LineTableFormat::LnotabSigned,
                            LineTableFormat::Linetable310, LineTableFormat::Locations311}) {
            const auto ranges = decode(format, table, 1);
            INFO("iteration " << iteration << ", format " << static_cast<int>(format));
            REQUIRE(check_invariants(ranges).empty());
            for (std::int64_t off : {std::int64_t{-1}, std::int64_t{0}, std::int64_t{7},
                                     std::int64_t{kEnd}, std::numeric_limits<std::int64_t>::max()}) {
                (void)line_at(ranges, off, 1);
            }
        }
    }
}
