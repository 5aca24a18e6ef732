// The viewer's model, apart from ncurses: the merged tree, FLAT with
// recursion, sorting, hotspot, focus, cursor stability across updates,
// thread selection, pause, and rendering rows to text.
#include "tui/text.hpp"
#include "tui/viewer_model.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <set>
#include <memory>
#include <random>
#include <string>
#include <vector>

using namespace profiling;
using namespace profiling::tui;

namespace {

// Builds profiles from stacks written as names, outermost first.
class ProfileBuilder {
public:
    ProfileBuilder() { profile_.info.kind = "sampling"; }

    FrameId frame(const std::string& name) {
        auto [it, inserted] = lines_.try_emplace(name, static_cast<int>(lines_.size()) * 10 + 1);
        return profile_.frames.intern(FrameInfo{name, name, "app.py", it->second});
    }

    ProfileBuilder& add(std::uint64_t thread, const std::vector<std::string>& names, std::uint64_t weight = 1) {
        std::vector<FrameId> stack;
        for (const auto& n : names) stack.push_back(frame(n));
        profile_.thread(thread).tree.add(stack, 1, weight);
        return *this;
    }

    ProfileBuilder& name_thread(std::uint64_t thread, const std::string& name) {
        profile_.thread(thread).name = name;
        return *this;
    }

    std::shared_ptr<const Profile> build() const { return std::make_shared<const Profile>(profile_); }
    Profile& profile() { return profile_; }

private:
    Profile profile_;
    std::map<std::string, int> lines_;
};

ViewerOptions manual() {
    ViewerOptions options;
    options.auto_expand_percent = 0;   // tests open nodes themselves
    return options;
}

// The function name of each row, indented two spaces per level.
std::vector<std::string> shown(ViewerModel& model) {
    std::vector<std::string> out;
    for (const Row& row : model.rows()) {
        const std::string& label = model.label(row.frame);
        out.push_back(std::string(2 * row.depth, ' ') + label.substr(0, label.find(' ')));
    }
    return out;
}

std::string selected(ViewerModel& model) {
    std::string label = model.selected_label();
    return label.substr(0, label.find(' '));
}

void go_to(ViewerModel& model, const std::string& name) {
    model.home();
    for (std::size_t i = 0; i < model.rows().size(); ++i) {
        if (selected(model) == name) return;
        model.move(1);
    }
    FAIL("no row " << name);
}

}  // namespace

TEST_CASE("the view tree merges threads by path, children sorted by frame", "[viewer]") {
    ProfileBuilder b;
    b.add(1, {"main", "a", "x"}, 2).add(1, {"main", "b"}, 1).add(2, {"main", "a", "y"}, 3).add(2, {"other"}, 4);
    auto profile = b.build();
    std::vector<const CallTree*> trees;
    for (const auto& t : profile->threads) trees.push_back(&t.tree);
    ViewTree tree;
    tree.build(trees);

    CHECK(tree.stats(ViewTree::kRoot).deep == 10);
    CHECK(tree.size() == 1 + 6);   // main, a, x, y, b, other
    NodeId main = tree.find_child(ViewTree::kRoot, b.frame("main"));
    REQUIRE(main != ViewTree::kNone);
    CHECK(tree.stats(main).deep == 6);
    NodeId a = tree.find_child(main, b.frame("a"));
    CHECK(tree.stats(a) == NodeStats{0, 0, 5});
    CHECK(tree.stats(tree.find_child(a, b.frame("y"))).own == 3);
    CHECK(tree.depth(a) == 2);
    CHECK(tree.parent(a) == main);
    std::vector<FrameId> path{b.frame("main"), b.frame("a"), b.frame("x")};
    CHECK(tree.path_of(tree.find_path(path)) == path);
    // A path that stops existing gives its deepest existing node.
    std::size_t matched = 0;
    std::vector<FrameId> missing{b.frame("main"), b.frame("b"), b.frame("x")};
    CHECK(tree.find_path(missing, &matched) == tree.find_child(main, b.frame("b")));
    CHECK(matched == 2);
    // Every node is among its parent's children, once, and siblings differ in frame.
    for (NodeId id = 0; id < tree.size(); ++id) {
        std::set<FrameId> frames;
        for (NodeId c : tree.children(id)) {
            CHECK(tree.parent(c) == id);
            CHECK(frames.insert(tree.frame(c)).second);
        }
        if (id != ViewTree::kRoot) {
            auto siblings = tree.children(tree.parent(id));
            CHECK(std::count(siblings.begin(), siblings.end(), id) == 1);
        }
    }
}

namespace {

// A tree as path -> stats, for comparing trees whatever their node ids.
std::map<std::vector<FrameId>, NodeStats> canonical(const ViewTree& tree) {
    std::map<std::vector<FrameId>, NodeStats> out;
    for (NodeId id = 0; id < tree.size(); ++id) {
        CHECK(out.emplace(tree.path_of(id), tree.stats(id)).second);
        for (NodeId c : tree.children(id)) CHECK(tree.parent(c) == id);
    }
    return out;
}

}  // namespace

TEST_CASE("incremental updates give the tree a fresh build gives", "[viewer]") {
    std::mt19937 rng(7);
    for (int round = 0; round < 20; ++round) {
        ProfileBuilder b;
        ViewTree incremental;
        std::vector<ViewTree::Source> sources;
        for (int step = 0; step < 12; ++step) {
            // Grow: new samples on old and new paths, sometimes a new thread.
            const int threads = 1 + static_cast<int>(rng() % 4);
            for (int k = 0; k < 30; ++k) {
                std::vector<std::string> stack;
                const int depth = 1 + static_cast<int>(rng() % 6);
                for (int d = 0; d < depth; ++d) stack.push_back("f" + std::to_string(rng() % 5));
                b.add(1 + rng() % static_cast<unsigned>(threads), stack, 1 + rng() % 3);
            }
            auto profile = b.build();
            sources.clear();
            // Sometimes one thread alone, sometimes in another order (a rebuild).
            const int mode = static_cast<int>(rng() % 6);
            if (mode == 0) {
                sources.push_back({profile->threads[0].thread_id, &profile->threads[0].tree});
            } else {
                for (const ThreadProfile& t : profile->threads) sources.push_back({t.thread_id, &t.tree});
                if (mode == 1) std::reverse(sources.begin(), sources.end());
            }
            incremental.update(sources);
            std::vector<const CallTree*> trees;
            for (const auto& source : sources) trees.push_back(source.tree);
            ViewTree fresh;
            fresh.build(trees);
            REQUIRE(canonical(incremental) == canonical(fresh));
        }
    }
    // A different profile under the same thread ids is rebuilt, not patched.
    ProfileBuilder one, other;
    one.add(1, {"a", "b"}, 2);
    other.add(1, {"x"}, 1).add(1, {"y", "z"}, 1).add(1, {"a"}, 1);
    auto p1 = one.build();
    auto p2 = other.build();
    ViewTree tree;
    std::vector<ViewTree::Source> s1{{1, &p1->threads[0].tree}}, s2{{1, &p2->threads[0].tree}};
    tree.update(s1);
    CHECK(tree.update(s2));
    std::vector<const CallTree*> t2{&p2->threads[0].tree};
    ViewTree fresh;
    fresh.build(t2);
    CHECK(canonical(tree) == canonical(fresh));
}

TEST_CASE("FLAT sums OWN everywhere and counts DEEP once per sample under recursion", "[viewer]") {
    ProfileBuilder b;
    b.add(1, {"main", "fib", "fib", "fib"}, 3)
        .add(1, {"main", "fib"}, 2)
        .add(1, {"main", "other", "fib", "fib"}, 1)
        .add(1, {"main", "other"}, 4);
    ViewerModel model(manual());
    model.offer(b.build());
    model.toggle_layout();
    REQUIRE(model.layout() == Layout::Flat);
    std::map<std::string, NodeStats> flat;
    for (const Row& row : model.rows()) {
        std::string label = model.label(row.frame);
        flat[label.substr(0, label.find(' '))] = row.stats;
    }
    REQUIRE(flat.size() == 3);
    CHECK(flat["main"].deep == 10);
    CHECK(flat["main"].own == 0);
    CHECK(flat["fib"].own == 6);
    CHECK(flat["fib"].deep == 6);   // 5 under main, 1 under other: never 3 + 3 + 3 ...
    CHECK(flat["other"].own == 4);
    CHECK(flat["other"].deep == 5);
    // Sorted by DEEP, the default.
    CHECK(shown(model) == std::vector<std::string>{"main", "fib", "other"});
}

TEST_CASE("NESTED: top rows, expand, first child, fold, parent", "[viewer]") {
    ProfileBuilder b;
    b.add(1, {"main", "heavy", "leaf"}, 5).add(1, {"main", "light"}, 2).add(1, {"boot"}, 1);
    ViewerModel model(manual());
    model.offer(b.build());
    CHECK(shown(model) == std::vector<std::string>{"main", "boot"});
    CHECK(model.cursor() == 0);
    CHECK(model.rows()[0].has_children);
    CHECK_FALSE(model.rows()[0].expanded);

    model.expand();   // → opens main
    CHECK(shown(model) == std::vector<std::string>{"main", "  heavy", "  light", "boot"});
    CHECK(selected(model) == "main");
    model.expand();   // → on an open row: its first child
    CHECK(selected(model) == "heavy");
    model.expand();
    CHECK(shown(model) == std::vector<std::string>{"main", "  heavy", "    leaf", "  light", "boot"});
    model.move(1);
    CHECK(selected(model) == "leaf");
    model.fold();     // ← on a leaf: the parent
    CHECK(selected(model) == "heavy");
    model.fold();     // ← on an open row: fold it
    CHECK(shown(model) == std::vector<std::string>{"main", "  heavy", "  light", "boot"});
    CHECK(selected(model) == "heavy");
    model.fold();     // ← on a folded row: the parent
    CHECK(selected(model) == "main");
    model.fold();
    CHECK(shown(model) == std::vector<std::string>{"main", "boot"});
    model.fold();     // a top row has no parent: nothing happens
    CHECK(selected(model) == "main");
    // Expansion is remembered below a folded row.
    model.expand();
    CHECK(shown(model) == std::vector<std::string>{"main", "  heavy", "  light", "boot"});
}

TEST_CASE("auto-expansion opens the hot paths until the user takes over", "[viewer]") {
    ProfileBuilder b;
    b.add(1, {"main", "heavy", "leaf"}, 90).add(1, {"main", "cold", "x"}, 5).add(1, {"rare", "y"}, 5);
    ViewerOptions options;
    options.auto_expand_percent = 10;
    ViewerModel model(options);
    model.offer(b.build());
    CHECK(shown(model) == std::vector<std::string>{"main", "  heavy", "    leaf", "  cold", "rare"});
    // A path that cools down closes again while nobody touched anything.
    b.add(1, {"rare", "y"}, 900);
    model.offer(b.build());
    CHECK(shown(model) == std::vector<std::string>{"rare", "  y", "main"});
    model.home();
    REQUIRE(selected(model) == "rare");
    model.fold();   // the user folds rare: auto-expansion stops
    b.add(1, {"main", "heavy", "leaf"}, 5000);
    model.offer(b.build());
    CHECK(shown(model) == std::vector<std::string>{"main", "rare"});
}

TEST_CASE("[ and ] cycle the sort column; rows follow it", "[viewer]") {
    ProfileBuilder b;
    b.add(1, {"b_own_small"}, 1).add(1, {"b_own_small", "x"}, 9).add(1, {"a_own_big"}, 6).add(1, {"c_mid"}, 3);
    ViewerModel model(manual());
    model.offer(b.build());
    auto title = [&] { return std::string(model.columns()[model.sort_column()].title); };
    CHECK(title() == "DEEP");
    CHECK(shown(model) == std::vector<std::string>{"b_own_small", "a_own_big", "c_mid"});
    model.cycle_sort(1);   // DEEP -> FUNCTION (percent columns are skipped)
    CHECK(title() == "FUNCTION");
    CHECK(shown(model) == std::vector<std::string>{"a_own_big", "b_own_small", "c_mid"});
    model.cycle_sort(1);
    CHECK(title() == "OWN");
    CHECK(shown(model) == std::vector<std::string>{"a_own_big", "c_mid", "b_own_small"});
    model.cycle_sort(-1);
    CHECK(title() == "FUNCTION");
    model.cycle_sort(-1);
    CHECK(title() == "DEEP");
}

TEST_CASE("hotspot follows the heaviest child down to where the time is spent", "[viewer]") {
    ProfileBuilder b;
    b.add(1, {"main", "a", "a1", "a1x"}, 30)
        .add(1, {"main", "a", "a2"}, 25)
        .add(1, {"main", "b", "b1"}, 40)
        .add(1, {"main", "b"}, 5);
    ViewerModel model(manual());
    model.offer(b.build());
    model.hotspot();
    // main (100) -> a (55) beats b (45) -> a1 (30) beats a2 (25) -> a1x: the heaviest leaf on the heaviest path.
    CHECK(selected(model) == "a1x");
    CHECK(shown(model) ==
          std::vector<std::string>{"main", "  a", "    a1", "      a1x", "    a2", "  b"});
    CHECK(model.rows()[model.cursor()].depth == 3);

    // Where a node's own time beats every child, the time is spent there.
    ProfileBuilder c;
    c.add(1, {"main", "busy"}, 50).add(1, {"main", "busy", "small"}, 10);
    ViewerModel other(manual());
    other.offer(c.build());
    other.hotspot();
    CHECK(selected(other) == "busy");
}

TEST_CASE("enter focuses the selected node as the root; esc returns to the whole tree", "[viewer]") {
    ProfileBuilder b;
    b.add(1, {"main", "a", "x"}, 3).add(1, {"main", "b", "y"}, 2).add(1, {"boot"}, 1);
    ViewerModel model(manual());
    model.offer(b.build());
    model.expand();
    model.move(1);
    REQUIRE(selected(model) == "a");
    model.focus();
    CHECK(model.focused());
    CHECK(shown(model) == std::vector<std::string>{"a", "  x"});
    CHECK(model.cursor() == 0);
    CHECK(model.focus_label().rfind("a (", 0) == 0);
    model.fold();   // the root can be folded; it has no parent to go to
    CHECK(shown(model) == std::vector<std::string>{"a"});
    model.expand();
    model.move(1);
    CHECK(selected(model) == "x");
    // FLAT inside a focus counts the subtree only.
    model.toggle_layout();
    CHECK(shown(model) == std::vector<std::string>{"a", "x"});
    model.toggle_layout();
    model.defocus();
    CHECK_FALSE(model.focused());
    CHECK(selected(model) == "x");
    CHECK(shown(model) == std::vector<std::string>{"main", "  a", "    x", "  b", "boot"});
}

TEST_CASE("enter in FLAT shows the heaviest place the function is called", "[viewer]") {
    ProfileBuilder b;
    b.add(1, {"main", "a", "shared"}, 2).add(1, {"main", "b", "shared"}, 7).add(1, {"main", "c"}, 10);
    ViewerModel model(manual());
    model.offer(b.build());
    model.toggle_layout();
    go_to(model, "shared");
    model.focus();
    CHECK(model.layout() == Layout::Nested);
    CHECK(selected(model) == "shared");
    const Row& row = model.rows()[model.cursor()];
    CHECK(row.stats.deep == 7);
    CHECK(row.depth == 2);
}

TEST_CASE("the cursor stays on its function path across updates that reorder rows", "[viewer]") {
    ProfileBuilder b;
    b.add(1, {"main", "first", "deep"}, 10).add(1, {"main", "second", "inner"}, 5).add(1, {"top2"}, 1);
    ViewerModel model(manual());
    model.set_viewport(10);
    model.offer(b.build());
    model.expand();   // main
    go_to(model, "second");
    model.expand();   // second
    model.move(1);
    REQUIRE(selected(model) == "inner");
    CHECK(model.cursor() == 3);   // main, first (folded), second, inner

    // second overtakes first, and a new sibling appears above: rows reorder.
    b.add(1, {"main", "second", "inner"}, 50).add(1, {"main", "new"}, 30);
    model.offer(b.build());
    CHECK(shown(model) == std::vector<std::string>{"main", "  second", "    inner", "  new", "  first", "top2"});
    CHECK(selected(model) == "inner");
    CHECK(model.cursor() == 2);
    CHECK(model.rows()[model.cursor()].stats.own == 55);

    // A thread without that path puts the cursor on the nearest caller shown;
    // back on all threads it returns.
    b.add(2, {"main", "elsewhere"}, 1);
    model.offer(b.build());
    model.cycle_thread(1);   // thread 1 has the path
    CHECK(selected(model) == "inner");
    model.cycle_thread(1);   // thread 2 has main only
    CHECK(selected(model) == "main");
    model.cycle_thread(1);   // all
    CHECK(selected(model) == "inner");
}

TEST_CASE("until the user moves, the cursor stays on the top row whatever it shows", "[viewer]") {
    ProfileBuilder b;
    b.add(1, {"import_stuff"}, 5).add(1, {"main"}, 1);
    ViewerModel model(manual());
    model.offer(b.build());
    CHECK(selected(model) == "import_stuff");
    b.add(1, {"main"}, 50);
    model.offer(b.build());
    CHECK(selected(model) == "main");   // the new top row, not the old function
    CHECK(model.cursor() == 0);
    model.move(1);
    model.move(-1);                     // moved: now it sticks to main
    b.add(1, {"import_stuff"}, 500);
    model.offer(b.build());
    CHECK(selected(model) == "main");
    CHECK(model.cursor() == 1);
}

TEST_CASE("t cycles all threads merged, then each thread", "[viewer]") {
    ProfileBuilder b;
    b.add(1, {"work_alpha"}, 4).add(2, {"work_beta"}, 6).name_thread(1, "alpha").name_thread(2, "beta");
    ViewerModel model(manual());
    model.offer(b.build());
    CHECK(model.thread_title() == "all threads (2)");
    CHECK(shown(model) == std::vector<std::string>{"work_beta", "work_alpha"});
    CHECK(model.total() == 10);
    model.cycle_thread(1);
    CHECK(model.thread_title().rfind("thread 1/2 \"alpha\"", 0) == 0);
    CHECK(shown(model) == std::vector<std::string>{"work_alpha"});
    CHECK(model.total() == 4);
    model.cycle_thread(1);
    CHECK(shown(model) == std::vector<std::string>{"work_beta"});
    model.cycle_thread(1);
    CHECK(model.thread_title() == "all threads (2)");
    model.cycle_thread(-1);
    CHECK(shown(model) == std::vector<std::string>{"work_beta"});
}

TEST_CASE("paused, the shown profile is frozen; resume shows the latest", "[viewer]") {
    ProfileBuilder b;
    b.add(1, {"main"}, 5);
    ViewerModel model(manual());
    model.offer(b.build());
    model.toggle_pause();
    b.add(1, {"main"}, 20);
    model.offer(b.build());
    CHECK(model.paused());
    CHECK(model.rows()[0].stats.deep == 5);
    CHECK(model.shown()->total_samples() == 5);
    CHECK(model.latest()->total_samples() == 25);
    model.toggle_pause();
    CHECK(model.rows()[0].stats.deep == 25);
}

TEST_CASE("PgUp, PgDn, Home and End move by screens and to the ends", "[viewer]") {
    ProfileBuilder b;
    for (int i = 0; i < 50; ++i) b.add(1, {"f" + std::to_string(100 + i)}, 100 - static_cast<std::uint64_t>(i));
    ViewerModel model(manual());
    model.set_viewport(10);
    model.offer(b.build());
    REQUIRE(model.rows().size() == 50);
    model.page_down();
    CHECK(model.cursor() == 9);
    CHECK(model.top() == 9);
    model.page_down();
    CHECK(model.cursor() == 18);
    model.page_up();
    CHECK(model.cursor() == 9);
    model.end();
    CHECK(model.cursor() == 49);
    CHECK(model.top() == 40);
    model.move(-1);
    CHECK(model.cursor() == 48);
    model.home();
    CHECK(model.cursor() == 0);
    CHECK(model.top() == 0);
    model.move(-1);
    CHECK(model.cursor() == 0);
}

TEST_CASE("rows render as text: indentation, markers, labels, counts and percentages", "[viewer]") {
    ProfileBuilder b;
    b.add(1, {"main", "na\xc3\xafve_\xe8\xa8\x88\xe7\xae\x97"}, 3).add(1, {"main"}, 1);
    b.profile().frames.intern(FrameInfo{"<module>", std::string("<module>"), "/srv/app.py", 1});
    ViewerModel model(manual());
    model.offer(b.build());
    model.expand();
    const Geometry g = model.geometry(80);
    CHECK(g.cell_widths == std::vector<std::size_t>{4, 6, 4, 6});
    CHECK(g.function_width == 80 - (4 + 6 + 4 + 6 + 4 * Geometry::kGap));
    std::vector<std::string> header = model.header(g);
    CHECK(header[0].rfind("FUNCTION", 0) == 0);
    CHECK(header[1] == " OWN");
    CHECK(header[2] == "     %");

    RenderedRow top = model.render(0, g);
    CHECK(display_width(top.function) == g.function_width);
    CHECK(top.function.rfind("\u25be main (app.py:1)", 0) == 0);
    CHECK(top.function.substr(top.label_begin, top.location_begin - top.label_begin) == "main");
    CHECK(top.cells == std::vector<std::string>{"   1", " 25.0%", "   4", "100.0%"});

    RenderedRow child = model.render(1, g);
    const std::string name = "na\xc3\xafve_\xe8\xa8\x88\xe7\xae\x97";   // naïve_計算: 2 wide characters
    CHECK(child.function.rfind("    " + name + " (app.py:11)", 0) == 0);
    CHECK(display_width(child.function) == g.function_width);
    CHECK(child.cells == std::vector<std::string>{"   3", " 75.0%", "   3", " 75.0%"});

    // Narrow: labels are cut with an ellipsis, never past their column.
    const Geometry narrow = model.geometry(40);
    RenderedRow cut = model.render(1, narrow);
    CHECK(display_width(cut.function) == narrow.function_width);
    CHECK(cut.function.find("\u2026") != std::string::npos);
}

TEST_CASE("tracing profiles get CALLS and per-call columns with human-scaled times", "[viewer]") {
    ProfileBuilder b;
    b.profile().info.kind = "tracing";
    b.add(1, {"main"}, 1500);
    b.add(1, {"main", "child"}, 500);
    if constexpr (requires(CallNode n) { n.calls; }) {
        for (NodeId id = 1; id < b.profile().threads[0].tree.size(); ++id) b.profile().threads[0].tree.node(id).calls = 2;
    }
    ViewerModel model(manual());
    model.offer(b.build());
    std::vector<std::string> titles;
    for (const Column& c : model.columns()) titles.emplace_back(c.title);
    CHECK(titles == std::vector<std::string>{"FUNCTION", "CALLS", "OWN", "/CALL", "%", "DEEP", "/CALL", "%"});
    CHECK(std::string(model.columns()[model.sort_column()].title) == "DEEP");
    RenderedRow row = model.render(0, model.geometry(100));
    REQUIRE(row.cells.size() == 7);
    CHECK(row.cells[1] == " 1.50\u00b5s");     // OWN: 1500 ns
    CHECK(row.cells[3] == " 75.0%");            // of 2000 ns in all
    CHECK(row.cells[4] == " 2.00\u00b5s");     // DEEP
    CHECK(row.cells[6] == "100.0%");
    if constexpr (requires(CallNode n) { n.calls; }) {
        CHECK(row.cells[0] == "      2");       // CALLS
        CHECK(row.cells[2] == "  750ns");       // OWN /CALL
        CHECK(row.cells[5] == " 1.00\u00b5s"); // DEEP /CALL
    }
}

TEST_CASE("text helpers: widths, fitting, sanitizing, numbers", "[viewer]") {
    CHECK(display_width("abc") == 3);
    CHECK(display_width("na\xc3\xafve") == 5);
    CHECK(display_width("\xe8\xa8\x88\xe7\xae\x97") == 4);
    CHECK(fit("abcdef", 4, false) == "abc~");
    CHECK(fit("abc", 5, true) == "abc  ");
    CHECK(fit("\xe8\xa8\x88\xe7\xae\x97x", 4, true) == "\xe8\xa8\x88\xe2\x80\xa6 ");   // a wide char never straddles the cut
    CHECK(clip("\xe8\xa8\x88\xe7\xae\x97", 3) == "\xe8\xa8\x88");
    CHECK(sanitize("a\tb\nc") == "a b c");
    CHECK(sanitize("bad\xff\xfe") == "bad??");
    CHECK(sanitize("\xc3\xaf") == "\xc3\xaf");
    CHECK(format_duration_ns(870, true) == "870ns");
    CHECK(format_duration_ns(1500, false) == "1.50us");
    CHECK(format_duration_ns(12'340'000, true) == "12.3ms");
    CHECK(format_duration_ns(999'999, true) == "1.00ms");
    CHECK(format_duration_ns(4e9, true) == "4.00s");
    CHECK(format_count(1234) == "1234");
    CHECK(format_count(12'345'678) == "12.3M");
}

TEST_CASE("the model's memory follows the tree, not the samples", "[viewer]") {
    auto memory_for = [](std::uint64_t weight) {
        ProfileBuilder b;
        for (int i = 0; i < 200; ++i) {
            for (int j = 0; j < 10; ++j) b.add(1, {"m", "f" + std::to_string(i), "g" + std::to_string(j)}, weight);
        }
        ViewerModel model(manual());
        model.offer(b.build());
        model.toggle_layout();
        model.toggle_layout();
        return model.memory_bytes();
    };
    const std::size_t few = memory_for(1);
    const std::size_t many = memory_for(1'000'000);
    CHECK(few == many);
    CHECK(few < 2201 * 200);   // well under 200 bytes per node
}

TEST_CASE("files read below their import root; p shows the full paths and back", "[viewer]") {
    ProfileBuilder b;
    b.profile().info.command = "/usr/bin/python3 /srv/app/main.py";
    const FrameId serve = b.profile().frames.intern(
        FrameInfo{"serve", std::string("Server.serve"), "/usr/lib/python3.11/socketserver.py", 359});
    b.profile().thread(1).tree.add(std::vector<FrameId>{serve}, 360, 2);
    ViewerModel model(manual());
    model.offer(b.build());
    CHECK_FALSE(model.shows_full_paths());
    CHECK(model.selected_label() == "Server.serve (socketserver.py:359)");
    model.toggle_full_paths();
    CHECK(model.selected_label() == "Server.serve (/usr/lib/python3.11/socketserver.py:359)");
    model.toggle_full_paths();
    CHECK(model.selected_label() == "Server.serve (socketserver.py:359)");
}
