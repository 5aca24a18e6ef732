#include "src/tree/profile_diff.hpp"

#include <map>
#include <unordered_map>
#include <utility>

namespace profiling {

namespace {

// A function's name within its file, first line left out.
using NameKey = std::pair<std::string, std::string>;

NameKey name_key(const FrameInfo& frame) { return {frame.qualname.value_or(frame.function), frame.file}; }

std::map<NameKey, int> name_counts(const FrameTable& frames) {
    std::map<NameKey, int> counts;
    for (const FrameInfo& frame : frames.all()) ++counts[name_key(frame)];
    return counts;
}

// Each side's frame ids mapped to shared ids, one per function; labels[id]
// names a shared id (AFTER's name when both sides have the function).
struct SharedFrames {
    std::vector<std::uint32_t> of[2];
    std::vector<std::string> labels;
};

SharedFrames share_frames(const FrameTable& before, const FrameTable& after) {
    SharedFrames shared;
    for (const FrameInfo& frame : before.all()) {
        shared.of[0].push_back(static_cast<std::uint32_t>(shared.labels.size()));
        shared.labels.push_back(frame.label());
    }
    // BEFORE's functions by exact identity and by name (where the name is
    // unique in its file).
    const auto before_names = name_counts(before);
    const auto after_names = name_counts(after);
    std::map<NameKey, std::uint32_t> before_by_name;
    for (std::size_t i = 0; i < before.size(); ++i) {
        const NameKey key = name_key(before[static_cast<FrameId>(i)]);
        if (before_names.at(key) == 1) before_by_name.emplace(key, static_cast<std::uint32_t>(i));
    }
    std::unordered_map<std::string, std::uint32_t> before_exact;   // exact_key -> index
    auto exact_key = [](const FrameInfo& f) {
        return f.function + '\0' + f.qualname.value_or("\x01") + '\0' + f.file + '\0' + std::to_string(f.first_line);
    };
    for (std::size_t i = 0; i < before.size(); ++i) {
        before_exact.emplace(exact_key(before[static_cast<FrameId>(i)]), static_cast<std::uint32_t>(i));
    }
    std::unordered_map<std::string, std::uint32_t> after_exact;
    for (std::size_t i = 0; i < after.size(); ++i) {
        after_exact.emplace(exact_key(after[static_cast<FrameId>(i)]), static_cast<std::uint32_t>(i));
    }
    for (const FrameInfo& frame : after.all()) {
        std::uint32_t id;
        if (auto it = before_exact.find(exact_key(frame)); it != before_exact.end()) {
            id = shared.of[0][it->second];
        } else if (auto named = before_by_name.find(name_key(frame));
                   named != before_by_name.end() && after_names.at(name_key(frame)) == 1 &&
                   !after_exact.count(exact_key(before[static_cast<FrameId>(named->second)]))) {
            id = shared.of[0][named->second];   // the same function, moved within its file
        } else {
            id = static_cast<std::uint32_t>(shared.labels.size());
            shared.labels.emplace_back();
        }
        shared.labels[id] = frame.label();
        shared.of[1].push_back(id);
    }
    return shared;
}

}  // namespace

double ProfileDiff::percent(std::uint64_t count, int side) const {
    return total[side] == 0 ? 0.0 : static_cast<double>(count) * 100.0 / static_cast<double>(total[side]);
}

double ProfileDiff::own_change(std::uint32_t id) const {
    return percent(nodes[id].own[1], 1) - percent(nodes[id].own[0], 0);
}

double ProfileDiff::deep_change(std::uint32_t id) const {
    return percent(nodes[id].deep[1], 1) - percent(nodes[id].deep[0], 0);
}

ProfileDiff diff_profiles(const Profile& before, const Profile& after) {
    const SharedFrames shared = share_frames(before.frames, after.frames);
    ProfileDiff diff;
    diff.nodes.emplace_back();   // the root: samples without a Python frame are its own
    std::unordered_map<std::uint64_t, std::uint32_t> child_of;   // parent << 32 | shared frame -> node
    const Profile* sides[2] = {&before, &after};
    for (int side = 0; side < 2; ++side) {
        const CallTree tree = sides[side]->merged();
        diff.total[side] = tree.total();
        diff.nodes[0].own[side] = tree.node(CallTree::kRoot).own;
        diff.nodes[0].deep[side] = tree.total();
        std::vector<std::uint32_t> node_of(tree.size(), 0);
        tree.for_each_path([&](NodeId id, const std::vector<NodeId>& path) {
            const CallNode& node = tree.node(id);
            const std::uint32_t parent = path.size() >= 2 ? node_of[path[path.size() - 2]] : 0;
            const std::uint32_t frame = shared.of[side][node.frame];
            auto [it, added] = child_of.try_emplace((std::uint64_t{parent} << 32) | frame,
                                                    static_cast<std::uint32_t>(diff.nodes.size()));
            if (added) {
                DiffNode fresh;
                fresh.label = shared.labels[frame];
                fresh.parent = parent;
                diff.nodes.push_back(std::move(fresh));
                diff.nodes[parent].children.push_back(it->second);
            }
            DiffNode& target = diff.nodes[it->second];
            target.own[side] += node.own;
            target.deep[side] += node.deep;
            node_of[id] = it->second;
        });
    }
    return diff;
}

}  // namespace profiling
