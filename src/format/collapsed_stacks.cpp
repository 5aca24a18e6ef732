#include "src/format/collapsed_stacks.hpp"

#include "src/format/import_roots.hpp"
#include "src/format/output_file.hpp"

#include <fmt/format.h>

#include <map>
#include <unordered_map>
#include <vector>

namespace profiling {

namespace {

using Lines = std::map<std::string, std::uint64_t>;

// Adds a line for every node of `tree` with own samples; `prefix` is the
// thread frame, or empty. Iterative: stacks can be thousands deep.
void collect(const CallTree& tree, const std::vector<std::string>& frame_text, const std::string& prefix,
             Lines& lines) {
    if (!prefix.empty() && tree.node(CallTree::kRoot).own > 0) lines[prefix] += tree.node(CallTree::kRoot).own;

    std::string stack = prefix;
    std::vector<std::size_t> length_at_depth{prefix.size()};   // stack.size() once a node of depth d-1 is in
    std::vector<std::pair<NodeId, std::size_t>> work;           // (node, depth), depth 1 = outermost frame
    const auto& root_children = tree.node(CallTree::kRoot).children;
    for (auto it = root_children.rbegin(); it != root_children.rend(); ++it) work.emplace_back(*it, 1);
    while (!work.empty()) {
        auto [id, depth] = work.back();
        work.pop_back();
        const CallNode& node = tree.node(id);
        stack.resize(length_at_depth[depth - 1]);
        if (depth > 1 || !prefix.empty()) stack += ';';
        stack += frame_text[node.frame];
        length_at_depth.resize(depth);
        length_at_depth.push_back(stack.size());
        if (node.own > 0) lines[stack] += node.own;
        for (auto it = node.children.rbegin(); it != node.children.rend(); ++it) work.emplace_back(*it, depth + 1);
    }
}

}  // namespace

std::string collapsed_frame_text(std::string_view label) {
    std::string out(label);
    for (char& c : out) {
        auto b = static_cast<unsigned char>(c);
        if (c == ';') {
            c = ':';
        } else if (b < 0x20 || b == 0x7F) {
            c = ' ';
        }
    }
    return out;
}

std::string collapsed_stacks(const Profile& profile, const CollapsedOptions& options) {
    std::vector<std::string> frame_text;
    frame_text.reserve(profile.frames.size());
    for (const std::string& label : display_labels(profile)) frame_text.push_back(collapsed_frame_text(label));

    Lines lines;
    if (options.per_thread) {
        std::unordered_map<std::string, int> name_uses;
        for (const ThreadProfile& thread : profile.threads) {
            if (thread.name) ++name_uses[*thread.name];
        }
        for (const ThreadProfile& thread : profile.threads) {
            std::string label;
            if (!thread.name) {
                label = fmt::format("thread {:#x}", thread.thread_id);
            } else if (name_uses[*thread.name] > 1) {
                label = fmt::format("thread {} ({:#x})", *thread.name, thread.thread_id);
            } else {
                label = "thread " + *thread.name;
            }
            collect(thread.tree, frame_text, collapsed_frame_text(label), lines);
        }
    } else {
        collect(profile.merged(), frame_text, {}, lines);
    }

    std::string out;
    for (const auto& [stack, count] : lines) {
        out += stack;
        out += ' ';
        out += std::to_string(count);
        out += '\n';
    }
    return out;
}

void write_collapsed_stacks(const Profile& profile, const std::string& path, const CollapsedOptions& options) {
    write_output_file(path, collapsed_stacks(profile, options));
}

}  // namespace profiling
