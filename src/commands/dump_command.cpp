#include "src/commands/dump_command.hpp"

#include "attach/interpreter_locator.hpp"
#include "attach/mixed_stack.hpp"
#include "attach/native_symbols.hpp"
#include "attach/native_unwinder.hpp"
#include "attach/python_descendants.hpp"
#include "attach/proc_maps.hpp"
#include "attach/process_freezer.hpp"
#include "attach/process_memory.hpp"
#include "attach/frame_locals.hpp"
#include "attach/object_repr.hpp"
#include "attach/stack_walker.hpp"
#include "attach/thread_states.hpp"
#include "src/format/stack_format.hpp"

#include <cstdio>
#include <optional>

namespace profiling {

int run_dump(const DumpOptions& options) {
    if (!options.core_path.empty()) return run_core_dump(options);
    attach::ProcessMemory memory(options.pid);
    const attach::InterpreterLocation where = attach::locate_attach_target(options.pid, memory);
    attach::StackWalker walker(where, memory);
    attach::ThreadStateReader states(where, memory);

    // (Opened before the threads stop: it reads the process's mappings.)
    std::optional<attach::NativeSymbols> symbols;
    if (options.native) symbols.emplace(options.pid);
    attach::NativeUnwinder unwinder;
    std::vector<std::vector<attach::UnwoundFrame>> unwound;   // per thread, innermost first

    ProcessStacks stacks;
    {
        std::optional<attach::ProcessFreezer> frozen;
        if (options.blocking || options.native) frozen.emplace(options.pid);
        stacks = walker.snapshot();
        if (options.native) {
            for (const ThreadStack& thread : stacks.threads) {
                unwound.push_back(thread.native_id ? unwinder.unwind(*thread.native_id)
                                                   : std::vector<attach::UnwoundFrame>{});
            }
        }
        // Right after the stacks: the GIL and OS state of the same moment.
        states.describe(stacks, walker.interpreter_addresses(), walker.gil_structs());
        if (options.locals) read_locals(stacks, memory, where);
    }   // threads resume here, before any output is written

    // Named after the threads run again: program counters stay valid while the binaries stay mapped.
    if (options.native) merge_native_frames(stacks, unwound, *symbols);

    print_stacks(stacks, options, DumpHeader{attach::read_cmdline(options.pid), where.runtime_file});
    return 0;
}

void merge_native_frames(ProcessStacks& stacks, const std::vector<std::vector<attach::UnwoundFrame>>& unwound,
                         attach::NativeSymbols& symbols) {
    const std::string_view eval_name = attach::eval_function_name(stacks.version.major);
    for (std::size_t t = 0; t < stacks.threads.size() && t < unwound.size(); ++t) {
        std::vector<attach::NativeCall> native;
        for (std::size_t i = 0; i < unwound[t].size(); ++i) {
            native.push_back({symbols.lookup(unwound[t][i].pc, /*return_address=*/i > 0), unwound[t][i].sp});
        }
        ThreadStack& thread = stacks.threads[t];
        thread.frames = attach::merge_stacks(thread.frames, native, eval_name);
    }
}

void read_locals(ProcessStacks& stacks, attach::MemoryReader& memory, const attach::InterpreterLocation& where) {
    attach::ObjectReprReader objects(memory, where.layout);
    for (ThreadStack& thread : stacks.threads) {
        for (Frame& frame : thread.frames) {
            if (frame.kind != FrameKind::Python) continue;
            frame.locals =
                attach::read_frame_locals(memory, where.layout, objects, frame.frame_address, frame.code_address);
        }
    }
}

void print_stacks(const ProcessStacks& stacks, const DumpOptions& options, const DumpHeader& header) {
    std::string text = options.json ? stacks_to_json(stacks, options.locals).dump(2) + "\n"
                                    : format_stacks_text(stacks, header, options.locals);
    std::fwrite(text.data(), 1, text.size(), stdout);
}

}  // namespace profiling
