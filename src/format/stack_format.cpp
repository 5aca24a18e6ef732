#include "src/format/stack_format.hpp"

#include <fmt/format.h>

namespace profiling {

std::string format_stacks_text(const ProcessStacks& stacks, const DumpHeader& header) {
    std::string out = fmt::format("Process {}: {}\nPython {} ({})\n", stacks.pid, header.command_line,
                                  stacks.version.text(), header.runtime_file);
    for (const ThreadStack& thread : stacks.threads) {
        out += fmt::format("\nThread {:#x}", thread.thread_id);
        if (thread.native_id) out += fmt::format(" (native {})", *thread.native_id);
        if (thread.name) out += fmt::format(" \"{}\"", *thread.name);
        if (thread.holds_gil) out += " [has the GIL]";
        if (!thread.complete) out += " [stack changed while reading; partial]";
        out += '\n';
        if (thread.frames.empty()) out += "    (no Python frames)\n";
        for (auto frame = thread.frames.rbegin(); frame != thread.frames.rend(); ++frame) {
            out += fmt::format("    File \"{}\", line {}, in {}\n", frame->file, frame->line,
                               frame->qualname.value_or(frame->function));
        }
    }
    return out;
}

nlohmann::json stacks_to_json(const ProcessStacks& stacks) {
    using nlohmann::json;
    json threads = json::array();
    for (const ThreadStack& thread : stacks.threads) {
        json frames = json::array();
        for (const Frame& frame : thread.frames) {
            frames.push_back({
                {"function", frame.function},
                {"qualname", frame.qualname ? json(*frame.qualname) : json(nullptr)},
                {"file", frame.file},
                {"line", frame.line},
                {"first_line", frame.first_line},
            });
        }
        threads.push_back({
            {"thread_id", thread.thread_id},
            {"native_id", thread.native_id ? json(*thread.native_id) : json(nullptr)},
            {"name", thread.name ? json(*thread.name) : json(nullptr)},
            {"holds_gil", thread.holds_gil},
            {"complete", thread.complete},
            {"frames", std::move(frames)},
        });
    }
    return {{"pid", stacks.pid}, {"python", stacks.version.text()}, {"threads", std::move(threads)}};
}

}  // namespace profiling
