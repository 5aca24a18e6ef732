#include "src/commands/dump_command.hpp"

#include "attach/interpreter_locator.hpp"
#include "attach/python_descendants.hpp"
#include "attach/proc_maps.hpp"
#include "attach/process_freezer.hpp"
#include "attach/process_memory.hpp"
#include "attach/stack_walker.hpp"
#include "src/format/stack_format.hpp"

#include <cstdio>
#include <optional>

namespace profiling {

int run_dump(const DumpOptions& options) {
    attach::ProcessMemory memory(options.pid);
    const attach::InterpreterLocation where = attach::locate_attach_target(options.pid, memory);
    attach::StackWalker walker(where, memory);

    ProcessStacks stacks;
    {
        std::optional<attach::ProcessFreezer> frozen;
        if (options.blocking) frozen.emplace(options.pid);
        stacks = walker.snapshot();
    }   // threads resume here, before any output is written

    if (options.json) {
        std::string text = stacks_to_json(stacks).dump(2) + "\n";
        std::fwrite(text.data(), 1, text.size(), stdout);
    } else {
        DumpHeader header{attach::read_cmdline(options.pid), where.runtime_file};
        std::string text = format_stacks_text(stacks, header);
        std::fwrite(text.data(), 1, text.size(), stdout);
    }
    return 0;
}

}  // namespace profiling
