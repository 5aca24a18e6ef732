// The HTML flame graph's embedding: names cannot break out of the page's
// <script> element, survive as the same text (unicode too), and every tree
// decodes back to the same nodes the way the page decodes it.
#include "src/format/html_flamegraph.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <random>
#include <string>
#include <vector>

using namespace profiling;
using nlohmann::json;

namespace {

std::size_t count_ci(const std::string& text, const std::string& needle) {
    std::string lower = text;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    std::size_t n = 0;
    for (std::size_t at = lower.find(needle); at != std::string::npos; at = lower.find(needle, at + 1)) ++n;
    return n;
}

// The JSON between the data element's tags, as a browser would take it.
json embedded_data(const std::string& page) {
    const std::string open = "<script id=\"profile-data\" type=\"application/json\">";
    const std::size_t begin = page.find(open);
    REQUIRE(begin != std::string::npos);
    const std::size_t from = begin + open.size();
    const std::size_t end = page.find("</script>", from);
    REQUIRE(end != std::string::npos);
    return json::parse(page.substr(from, end - from));
}

std::string name_of(const json& doc, FrameId frame) {
    return doc["strings"][doc["frames"][3 * frame].get<std::size_t>()].get<std::string>();
}

// What flamegraph.js's threadTree() does: parents from depths, deep from
// own when the array is left out. Returns (parent, frame, own, deep, calls) per node.
struct Decoded {
    std::vector<std::size_t> parent;
    std::vector<FrameId> frame;
    std::vector<std::uint64_t> own, deep, calls;
};

Decoded decode(const json& thread) {
    const auto depth = thread["depth"].get<std::vector<std::size_t>>();
    Decoded d;
    const std::size_t n = depth.size() + 1;
    d.parent.assign(n, 0);
    d.frame.assign(n, 0);
    d.own.assign(n, 0);
    d.deep.assign(n, 0);
    d.calls.assign(n, 0);
    std::vector<std::size_t> stack{0};
    const auto frames = thread["frame"].get<std::vector<FrameId>>();
    const auto own = thread["own"].get<std::vector<std::uint64_t>>();
    for (std::size_t i = 0; i + 1 < n; ++i) {
        REQUIRE(depth[i] < stack.size());   // never deeper than one below the last node
        d.parent[i + 1] = stack[depth[i]];
        stack.resize(depth[i] + 1);
        stack.push_back(i + 1);
        d.frame[i + 1] = frames[i];
        d.own[i + 1] = own[i];
        if (thread.contains("calls")) d.calls[i + 1] = thread["calls"][i].get<std::uint64_t>();
    }
    if (thread.contains("deep")) {
        for (std::size_t i = 0; i + 1 < n; ++i) d.deep[i + 1] = thread["deep"][i].get<std::uint64_t>();
    } else {
        for (std::size_t i = n - 1; i > 0; --i) {
            d.deep[i] += d.own[i];
            d.deep[d.parent[i]] += d.deep[i];
        }
    }
    d.deep[0] = thread["total"].get<std::uint64_t>();
    return d;
}

}  // namespace

TEST_CASE("html: a name cannot end the script element; unicode and odd bytes come back as text") {
    const std::string hostile = "</script><script>alert(1)</script>";
    const std::string unicode = "na\xc3\xafve_\xe8\xa8\x88\xe7\xae\x97";   // naïve_計算
    Profile profile;
    profile.info.command = "python3 </SCRIPT><!-- & \"quoted\" \u2028.py";
    const FrameId bad = profile.frames.intern({hostile, hostile, "<!--x.py", 3});
    const FrameId good = profile.frames.intern({unicode, std::nullopt, "/srv/\xe8\xa8\x88.py", 7});
    const FrameId broken = profile.frames.intern({"f\xc3", std::nullopt, "x.py", 1});   // cut UTF-8
    ThreadProfile& thread = profile.thread(0x10);
    thread.name = "</script>";
    thread.tree.add(std::vector<FrameId>{good, bad}, 4, 3);
    thread.tree.add(std::vector<FrameId>{broken}, 1, 1);

    std::string page;
    REQUIRE_NOTHROW(page = format_html_flamegraph(profile));
    // The page's own two elements, nothing else: no "</script" and no "<!--" from the data.
    CHECK(count_ci(page, "</script") == 2);
    CHECK(count_ci(page, "<!--") == 0);
    CHECK(page.rfind("<!DOCTYPE html>", 0) == 0);

    const json doc = embedded_data(page);
    CHECK(name_of(doc, bad) == hostile);
    CHECK(name_of(doc, good) == unicode);
    CHECK(name_of(doc, broken) == "f\xef\xbf\xbd");   // U+FFFD
    CHECK(doc["command"] == profile.info.command);
    CHECK(doc["threads"][0]["name"] == "</script>");
    CHECK(doc["threads"][0]["id"] == "0x10");
    CHECK(doc["kind"] == "sampling");
    CHECK(doc["strings"][doc["frames"][3 * good + 1].get<std::size_t>()] == "/srv/\xe8\xa8\x88.py");
    CHECK(doc["frames"][3 * good + 2] == 7);
}

TEST_CASE("html: each frame carries its file below its import root, its module and package") {
    Profile profile;
    profile.info.command = "/usr/bin/python3 /srv/app/main.py";
    const FrameId lib = profile.frames.intern({"serve", std::nullopt, "/usr/lib/python3.11/socketserver.py", 359});
    const FrameId own = profile.frames.intern({"index", std::nullopt, "/srv/app/app/views.py", 12});
    profile.thread(1).tree.add(std::vector<FrameId>{own, lib}, 360, 2);
    const json doc = json::parse(html_profile_json(profile));
    auto text = [&](const char* key, FrameId f) { return doc["strings"][doc[key][f].get<std::size_t>()]; };
    CHECK(text("short_files", lib) == "socketserver.py");
    CHECK(text("short_files", own) == "app/views.py");
    CHECK(text("modules", own) == "app.views");
    CHECK(text("packages", lib) == "socketserver");
    CHECK(doc["strings"][doc["frames"][3 * lib + 1].get<std::size_t>()] == "/usr/lib/python3.11/socketserver.py");
}

TEST_CASE("html: every tree decodes back to its nodes, deep left out only where it is implied") {
    std::mt19937 random(1234);
    for (int round = 0; round < 50; ++round) {
        Profile profile;
        const bool tracing = round % 2 == 1;
        profile.info.kind = tracing ? "tracing" : "sampling";
        std::vector<FrameId> frames;
        for (int f = 0; f < 12; ++f) {
            frames.push_back(profile.frames.intern({"f" + std::to_string(f), std::nullopt, "m.py", f + 1}));
        }
        const int threads = 1 + static_cast<int>(random() % 3);
        for (int t = 0; t < threads; ++t) {
            ThreadProfile& thread = profile.thread(static_cast<std::uint64_t>(t + 1));
            const int samples = static_cast<int>(random() % 200);
            for (int s = 0; s < samples; ++s) {
                std::vector<FrameId> stack(random() % 9);
                for (FrameId& f : stack) f = frames[random() % frames.size()];
                thread.tree.add(stack, 1, 1 + random() % 5);
            }
            if (tracing) {
                // Tracing trees carry calls, and deep that need not be own plus the children's.
                for (NodeId id = 1; id < thread.tree.size(); ++id) {
                    thread.tree.node(id).calls = random() % 7;
                    if (random() % 4 == 0) thread.tree.node(id).deep += 1 + random() % 3;
                }
            }
        }
        const json doc = json::parse(html_profile_json(profile));
        std::size_t at = 0;
        for (const ThreadProfile& thread : profile.threads) {
            if (thread.tree.total() == 0) continue;
            REQUIRE(at < doc["threads"].size());
            const json& encoded = doc["threads"][at++];
            if (!tracing) CHECK_FALSE(encoded.contains("deep"));
            CHECK(encoded.contains("calls") == tracing);
            const Decoded d = decode(encoded);
            REQUIRE(d.parent.size() == thread.tree.size());
            // Depth-first order: map the tree's nodes the same way and compare.
            std::vector<NodeId> order{CallTree::kRoot};
            thread.tree.for_each_path([&](NodeId id, const std::vector<NodeId>&) { order.push_back(id); });
            std::vector<std::size_t> index_of(thread.tree.size());
            for (std::size_t i = 0; i < order.size(); ++i) index_of[order[i]] = i;
            for (std::size_t i = 1; i < order.size(); ++i) {
                const CallNode& node = thread.tree.node(order[i]);
                CHECK(d.parent[i] == index_of[node.parent]);
                CHECK(d.frame[i] == node.frame);
                CHECK(d.own[i] == node.own);
                CHECK(d.deep[i] == node.deep);
                if (tracing) CHECK(d.calls[i] == node.calls);
            }
            CHECK(d.deep[0] == thread.tree.total());
        }
        CHECK(at == doc["threads"].size());
    }
}

TEST_CASE("html: a profile without samples is still a page") {
    Profile profile;
    profile.thread(1);   // a thread with nothing in it is left out
    const std::string page = format_html_flamegraph(profile);
    const json doc = embedded_data(page);
    CHECK(doc["threads"].empty());
    CHECK(doc["frames"].empty());
}
