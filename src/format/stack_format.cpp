#include "src/format/stack_format.hpp"

#include <fmt/format.h>

namespace profiling {

namespace {

const char* kind_key(LocalVariable::Kind kind) {
    switch (kind) {
        case LocalVariable::Kind::Argument: return "argument";
        case LocalVariable::Kind::Local: return "local";
        case LocalVariable::Kind::Cell: return "cell";
        case LocalVariable::Kind::Free: return "free";
    }
    return "local";
}

// pystack's layout: the arguments, then the other locals, one per line.
void append_locals(std::string& out, const Frame& frame) {
    if (!frame.locals) {
        out += "        (locals unreadable: the frame returned or changed while it was read)\n";
        return;
    }
    bool heading = false;
    for (bool arguments : {true, false}) {
        heading = false;
        for (const LocalVariable& variable : *frame.locals) {
            if ((variable.kind == LocalVariable::Kind::Argument) != arguments) continue;
            if (!heading) out += arguments ? "        Arguments:\n" : "        Locals:\n";
            heading = true;
            out += fmt::format("            {}: {}\n", variable.name, variable.repr);
        }
    }
}

}  // namespace

std::string thread_state_text(ThreadState state) {
    switch (state) {
        case ThreadState::HoldsGil: return "has the GIL";
        case ThreadState::WaitingForGil: return "waiting for the GIL";
        case ThreadState::RunningWithoutGil: return "running without the GIL";
        case ThreadState::Idle: return "idle";
        case ThreadState::Unknown: break;
    }
    return "state unknown";
}

std::string thread_state_key(ThreadState state) {
    switch (state) {
        case ThreadState::HoldsGil: return "has_gil";
        case ThreadState::WaitingForGil: return "waiting_for_gil";
        case ThreadState::RunningWithoutGil: return "running_without_gil";
        case ThreadState::Idle: return "idle";
        case ThreadState::Unknown: break;
    }
    return "unknown";
}

// "[native] qsort_r (libc.so.6+0x3c5a0) at msort.c:297, inlined"
std::string native_frame_text(const Frame& frame) {
    std::string module = frame.module.empty() ? "?" : frame.module.substr(frame.module.rfind('/') + 1);
    std::string out = fmt::format("[native] {} ({}+{:#x})", frame.function.empty() ? "??" : frame.function, module,
                                  frame.module_offset);
    if (!frame.file.empty()) out += fmt::format(" at {}:{}", frame.file, frame.line);
    if (frame.inlined) out += ", inlined";
    return out;
}

nlohmann::json native_frame_json(const Frame& frame) {
    using nlohmann::json;
    return {
        {"kind", "native"},
        {"function", frame.function},
        {"module", frame.module},
        {"offset", fmt::format("{:#x}", frame.module_offset)},
        {"file", frame.file.empty() ? json(nullptr) : json(frame.file)},
        {"line", frame.file.empty() ? json(nullptr) : json(frame.line)},
        {"inlined", frame.inlined},
    };
}

std::string format_stacks_text(const ProcessStacks& stacks, const DumpHeader& header, bool locals) {
    std::string out = fmt::format("Process {}: {}\nPython {} ({})\n", stacks.pid, header.command_line,
                                  stacks.version.text(), header.runtime_file);
    if (stacks.gc_collecting.value_or(false)) out += "Garbage collection in progress\n";
    for (const ThreadStack& thread : stacks.threads) {
        out += fmt::format("\nThread {:#x}", thread.thread_id);
        if (thread.native_id) out += fmt::format(" (native {})", *thread.native_id);
        if (thread.name) out += fmt::format(" \"{}\"", *thread.name);
        if (thread.state != ThreadState::Unknown) {
            out += " [" + thread_state_text(thread.state);
            if (thread.collecting_garbage) out += ", collecting garbage";
            out += "]";
        } else if (thread.holds_gil) {
            out += " [has the GIL]";
        }
        if (!thread.complete) out += " [stack changed while reading; partial]";
        out += '\n';
        if (thread.frames.empty()) out += "    (no Python frames)\n";
        for (auto frame = thread.frames.rbegin(); frame != thread.frames.rend(); ++frame) {
            if (frame->kind == FrameKind::Native) {
                out += "    " + native_frame_text(*frame) + "\n";
                continue;
            }
            out += fmt::format("    File \"{}\", line {}, in {}\n", frame->file, frame->line,
                               frame->qualname.value_or(frame->function));
            if (locals) append_locals(out, *frame);
        }
    }
    return out;
}

nlohmann::json stacks_to_json(const ProcessStacks& stacks, bool locals) {
    using nlohmann::json;
    json threads = json::array();
    for (const ThreadStack& thread : stacks.threads) {
        json frames = json::array();
        for (const Frame& frame : thread.frames) {
            if (frame.kind == FrameKind::Native) {
                frames.push_back(native_frame_json(frame));
                continue;
            }
            json entry = {
                {"kind", "python"},
                {"function", frame.function},
                {"qualname", frame.qualname ? json(*frame.qualname) : json(nullptr)},
                {"file", frame.file},
                {"line", frame.line},
                {"first_line", frame.first_line},
            };
            if (locals) {
                json variables = nullptr;
                if (frame.locals) {
                    variables = json::array();
                    for (const LocalVariable& variable : *frame.locals) {
                        variables.push_back({
                            {"name", variable.name},
                            {"kind", kind_key(variable.kind)},
                            {"bound", variable.bound},
                            {"type", variable.bound ? json(variable.type) : json(nullptr)},
                            {"repr", variable.repr},
                            {"address", variable.bound ? json(fmt::format("{:#x}", variable.address)) : json(nullptr)},
                            {"truncated", variable.truncated},
                        });
                    }
                }
                entry["locals"] = std::move(variables);
            }
            frames.push_back(std::move(entry));
        }
        threads.push_back({
            {"thread_id", thread.thread_id},
            {"native_id", thread.native_id ? json(*thread.native_id) : json(nullptr)},
            {"name", thread.name ? json(*thread.name) : json(nullptr)},
            {"holds_gil", thread.holds_gil},
            {"state", thread_state_key(thread.state)},
            {"os_state", thread.os_state ? json(std::string(1, *thread.os_state)) : json(nullptr)},
            {"collecting_garbage", thread.collecting_garbage},
            {"complete", thread.complete},
            {"frames", std::move(frames)},
        });
    }
    return {{"pid", stacks.pid},
            {"python", stacks.version.text()},
            {"gc_collecting", stacks.gc_collecting ? json(*stacks.gc_collecting) : json(nullptr)},
            {"threads", std::move(threads)}};
}

}  // namespace profiling
