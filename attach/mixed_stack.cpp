#include "attach/mixed_stack.hpp"

namespace profiling::attach {

std::string_view eval_function_name(int python_major) {
    return python_major == 2 ? "PyEval_EvalFrameEx" : "_PyEval_EvalFrameDefault";
}

bool is_eval_function(std::string_view function, std::string_view eval_name) {
    if (function.substr(0, eval_name.size()) != eval_name) return false;
    std::string_view rest = function.substr(eval_name.size());
    return rest.empty() || rest.front() == '.';   // GCC's .cold, .part.N
}

Frame native_frame(const NativeSymbol& symbol) {
    Frame frame;
    frame.kind = FrameKind::Native;
    frame.function = symbol.function;
    frame.file = symbol.file;
    frame.line = symbol.line;
    frame.module = symbol.module;
    frame.module_offset = symbol.offset;
    frame.inlined = symbol.inlined;
    return frame;
}

namespace {

// Python frames [begin, end): the run one C call of the evaluation loop ran.
struct PythonRun {
    std::size_t begin = 0, end = 0;
    std::uint64_t entry_shim = 0;
};

std::vector<PythonRun> split_runs(const std::vector<Frame>& python) {
    std::vector<PythonRun> runs;
    std::size_t begin = 0;
    for (std::size_t i = 0; i < python.size(); ++i) {
        if (python[i].entry || i + 1 == python.size()) {
            runs.push_back({begin, i + 1, python[i].entry_shim});
            begin = i + 1;
        }
    }
    return runs;
}

// For each run, the native frame that ran it (native.size(): none), placed by
// where the run's entry shim lies on the C stack. Empty when a run has no
// shim or no frame holds it, or the order is not the stack's.
std::vector<std::size_t> place_by_stack(const std::vector<PythonRun>& runs, const std::vector<NativeCall>& native) {
    std::vector<std::size_t> placed;
    std::size_t next = 0;
    for (const PythonRun& run : runs) {
        if (run.entry_shim == 0) return {};
        std::size_t k = next;
        // Frame k's locals: from its sp up to the next outer frame's.
        while (k < native.size() && !(native[k].sp <= run.entry_shim &&
                                      (k + 1 == native.size() || run.entry_shim < native[k + 1].sp))) {
            ++k;
        }
        if (k == native.size()) return {};
        placed.push_back(k);
        next = k + 1;
    }
    return placed;
}

std::vector<std::size_t> place_by_name(const std::vector<PythonRun>& runs, const std::vector<NativeCall>& native,
                                       std::string_view eval_name) {
    std::vector<std::size_t> placed;
    for (std::size_t k = 0; k < native.size() && placed.size() < runs.size(); ++k) {
        // The real function is the last of a pc's symbols (the others were inlined into it).
        if (!native[k].symbols.empty() && is_eval_function(native[k].symbols.back().function, eval_name)) {
            placed.push_back(k);
        }
    }
    placed.resize(runs.size(), native.size());
    return placed;
}

}  // namespace

std::vector<Frame> merge_stacks(const std::vector<Frame>& python, const std::vector<NativeCall>& native,
                                std::string_view eval_name) {
    const std::vector<PythonRun> runs = split_runs(python);
    std::vector<std::size_t> placed = place_by_stack(runs, native);
    if (placed.empty() && !runs.empty()) placed = place_by_name(runs, native, eval_name);

    std::vector<Frame> merged;
    merged.reserve(python.size() + native.size());
    std::size_t next_run = 0;
    for (std::size_t k = 0; k < native.size(); ++k) {
        if (next_run < runs.size() && placed[next_run] == k) {
            const PythonRun& run = runs[next_run++];
            merged.insert(merged.end(), python.begin() + static_cast<std::ptrdiff_t>(run.begin),
                          python.begin() + static_cast<std::ptrdiff_t>(run.end));
            continue;
        }
        for (const NativeSymbol& symbol : native[k].symbols) merged.push_back(native_frame(symbol));
    }
    for (; next_run < runs.size(); ++next_run) {
        merged.insert(merged.end(), python.begin() + static_cast<std::ptrdiff_t>(runs[next_run].begin),
                      python.begin() + static_cast<std::ptrdiff_t>(runs[next_run].end));
    }
    return merged;
}

}  // namespace profiling::attach
