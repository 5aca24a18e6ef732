// The profile model: interned frames, call trees with own/deep counts and
// per-leaf lines, merging, and the merged tree of a profile's threads.
#include "profiling/profile.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <vector>

using namespace profiling;

namespace {

FrameInfo frame(const std::string& name, int first_line = 1, const std::string& file = "app.py") {
    return FrameInfo{name, name, file, first_line};
}

// The samples of a tree as (stack, own) pairs in a canonical order, found
// without recursion.
std::vector<std::pair<std::vector<FrameId>, std::uint64_t>> own_by_stack(const CallTree& tree) {
    std::vector<std::pair<std::vector<FrameId>, std::uint64_t>> out;
    std::vector<std::pair<NodeId, std::vector<FrameId>>> work{{CallTree::kRoot, {}}};
    while (!work.empty()) {
        auto [id, stack] = work.back();
        work.pop_back();
        if (tree.node(id).own > 0) out.emplace_back(stack, tree.node(id).own);
        for (NodeId child : tree.node(id).children) {
            auto next = stack;
            next.push_back(tree.node(child).frame);
            work.emplace_back(child, std::move(next));
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace

TEST_CASE("frames are interned by function, qualname, file and first line", "[profile]") {
    FrameTable table;
    FrameId a = table.intern(frame("a"));
    FrameId b = table.intern(frame("b"));
    CHECK(a != b);
    CHECK(table.intern(frame("a")) == a);
    CHECK(table.intern(frame("a", 2)) != a);
    CHECK(table.intern(frame("a", 1, "other.py")) != a);
    FrameInfo no_qualname{"a", std::nullopt, "app.py", 1};
    CHECK(table.intern(no_qualname) != a);
    CHECK(table.size() == 5);
    CHECK(table[b].function == "b");
}

TEST_CASE("labels name the qualname, file and first line; a module is its file and line", "[profile]") {
    CHECK(FrameInfo{"run", std::string("Job.run"), "/srv/app.py", 12}.label() == "Job.run (/srv/app.py:12)");
    CHECK(FrameInfo{"run", std::nullopt, "/srv/app.py", 12}.label() == "run (/srv/app.py:12)");
    CHECK(FrameInfo{"<module>", std::string("<module>"), "/srv/app.py", 1}.label() == "/srv/app.py:1");
}

TEST_CASE("add counts own at the leaf and deep along the stack", "[profile]") {
    CallTree tree;
    std::vector<FrameId> main_handle_parse{0, 1, 2};
    std::vector<FrameId> main_handle{0, 1};
    tree.add(main_handle_parse, 20);
    tree.add(main_handle_parse, 21, 2);
    tree.add(main_handle_parse, 20);
    tree.add(main_handle, 11, 3);

    CHECK(tree.total() == 7);
    CHECK(tree.size() == 4);
    NodeId main_node = *tree.find_child(CallTree::kRoot, 0);
    NodeId handle = *tree.find_child(main_node, 1);
    NodeId parse = *tree.find_child(handle, 2);
    CHECK(tree.node(main_node).own == 0);
    CHECK(tree.node(main_node).deep == 7);
    CHECK(tree.node(handle).own == 3);
    CHECK(tree.node(handle).deep == 7);
    CHECK(tree.node(parse).own == 4);
    CHECK(tree.node(parse).deep == 4);
    CHECK(tree.node(parse).parent == handle);
    CHECK(tree.node(handle).children == std::vector<NodeId>{parse});
    using Lines = std::vector<std::pair<std::int32_t, std::uint64_t>>;
    CHECK(tree.node(parse).own_lines == Lines{{20, 2}, {21, 2}});
    CHECK(tree.node(handle).own_lines == Lines{{11, 3}});
    CHECK(tree.node(main_node).own_lines.empty());
}

TEST_CASE("an empty stack counts at the root without lines", "[profile]") {
    CallTree tree;
    tree.add({}, 5, 2);
    CHECK(tree.total() == 2);
    CHECK(tree.node(CallTree::kRoot).own == 2);
    CHECK(tree.node(CallTree::kRoot).own_lines.empty());
    CHECK(tree.size() == 1);
}

TEST_CASE("child() creates a node once per parent and frame; find_child finds it", "[profile]") {
    CallTree tree;
    NodeId a = tree.child(CallTree::kRoot, 7);
    CHECK(tree.child(CallTree::kRoot, 7) == a);
    NodeId b = tree.child(a, 7);   // the same frame under another parent is another node
    CHECK(b != a);
    CHECK(tree.child(a, 7) == b);
    CHECK(tree.find_child(CallTree::kRoot, 7) == a);
    CHECK(tree.find_child(a, 7) == b);
    CHECK_FALSE(tree.find_child(b, 7).has_value());
    CHECK_FALSE(tree.find_child(CallTree::kRoot, 8).has_value());
    CHECK(tree.node(CallTree::kRoot).children == std::vector<NodeId>{a});
    CHECK(tree.node(a).children == std::vector<NodeId>{b});
    CHECK(tree.node(b).parent == a);
    CHECK(tree.size() == 3);
}

TEST_CASE("merge adds every sample of another tree", "[profile]") {
    CallTree left, right, both;
    std::vector<std::vector<FrameId>> stacks = {{0, 1}, {0, 1, 2}, {0, 3}, {4}, {0, 1}};
    for (std::size_t i = 0; i < stacks.size(); ++i) {
        CallTree& half = i % 2 ? right : left;
        half.add(stacks[i], static_cast<std::int32_t>(i), i + 1);
        both.add(stacks[i], static_cast<std::int32_t>(i), i + 1);
    }
    right.add({}, 0, 4);
    both.add({}, 0, 4);

    CallTree merged = left;
    merged.merge(right);
    CHECK(merged.total() == both.total());
    CHECK(own_by_stack(merged) == own_by_stack(both));
    // The merged tree's index is right: adding finds the merged nodes.
    std::size_t size = merged.size();
    merged.add(std::vector<FrameId>{0, 1, 2}, 9);
    CHECK(merged.size() == size);
    NodeId node = *merged.find_child(*merged.find_child(*merged.find_child(CallTree::kRoot, 0), 1), 2);
    CHECK(merged.node(node).own == 3);
    using Lines = std::vector<std::pair<std::int32_t, std::uint64_t>>;
    CHECK(merged.node(node).own_lines == Lines{{1, 2}, {9, 1}});
    NodeId leaf01 = *merged.find_child(*merged.find_child(CallTree::kRoot, 0), 1);
    CHECK(merged.node(leaf01).own_lines == Lines{{0, 1}, {4, 5}});
}

TEST_CASE("merging adds the counts of lines both trees have", "[profile]") {
    CallTree a;
    a.add(std::vector<FrameId>{0}, 3, 2);
    CallTree b = a;
    b.merge(a);
    using Lines = std::vector<std::pair<std::int32_t, std::uint64_t>>;
    CHECK(b.node(1).own_lines == Lines{{3, 4}});
    CHECK(b.node(1).deep == 4);
}

TEST_CASE("merged() holds every thread's samples; thread() finds or creates", "[profile]") {
    Profile profile;
    FrameId main_frame = profile.frames.intern(frame("main"));
    FrameId work = profile.frames.intern(frame("work", 5));
    FrameId idle = profile.frames.intern(frame("idle", 9));
    profile.thread(1).tree.add(std::vector<FrameId>{main_frame, work}, 6, 3);
    profile.thread(2).tree.add(std::vector<FrameId>{main_frame, idle}, 10, 2);
    profile.thread(1).tree.add(std::vector<FrameId>{main_frame}, 2);
    CHECK(profile.threads.size() == 2);
    CHECK(&profile.thread(2) == &profile.threads[1]);
    CHECK(profile.total_samples() == 6);

    CallTree all = profile.merged();
    CHECK(all.total() == 6);
    NodeId main_node = *all.find_child(CallTree::kRoot, main_frame);
    CHECK(all.node(main_node).deep == 6);
    CHECK(all.node(main_node).own == 1);
    CHECK(all.node(*all.find_child(main_node, work)).own == 3);
    CHECK(all.node(*all.find_child(main_node, idle)).own == 2);
    CHECK(Profile{}.merged().total() == 0);
}

TEST_CASE("16,000-deep stacks add, merge and copy without recursion", "[profile]") {
    constexpr std::size_t kDepth = 16000;
    Profile profile;
    FrameId f = profile.frames.intern(frame("recurse"));
    FrameId g = profile.frames.intern(frame("leaf", 3));
    std::vector<FrameId> stack(kDepth, f);
    profile.thread(1).tree.add(stack, 4);
    stack.back() = g;
    profile.thread(2).tree.add(stack, 4, 2);

    CallTree all = profile.merged();
    CHECK(all.total() == 3);
    CHECK(all.size() == kDepth + 2);   // root, 15,999 shared frames, two leaves
    NodeId at = CallTree::kRoot;
    for (std::size_t i = 0; i + 1 < kDepth; ++i) at = *all.find_child(at, f);
    CHECK(all.node(at).deep == 3);
    CHECK(all.node(*all.find_child(at, f)).own == 1);
    CHECK(all.node(*all.find_child(at, g)).own == 2);
}
