// `profiling dump --core FILE`: the Python stacks of a process long gone,
// from its core file (see attach/core_file.hpp for where the bytes come from).
#include "src/commands/dump_command.hpp"

#include "attach/core_file.hpp"
#include "attach/stack_walker.hpp"
#include "profiling/errors.hpp"

#include <fmt/format.h>

namespace profiling {

int run_core_dump(const DumpOptions& options) {
    if (options.native || options.blocking) {
        throw Error(ErrorKind::BadInput,
                    fmt::format("{} does not apply to a core file", options.native ? "--native" : "--blocking"),
                    "a core's threads are already still; --native with --core is not supported yet");
    }
    attach::CoreFile core(options.core_path, options.lib_search_root);
    attach::TargetImage image;
    image.pid = core.pid();
    image.maps = core.maps();
    image.executable = options.executable.empty() ? core.executable() : options.executable;
    // An --executable given is opened where it is; the core's own is looked for under the search root.
    image.open_executable = options.executable.empty() ? core.open_path(image.executable) : options.executable;
    image.open_path = [&core](const std::string& path) { return core.open_path(path); };
    image.from_core = true;
    const attach::InterpreterLocation where = attach::locate_interpreter(image, core);

    attach::StackWalker walker(where, core);
    ProcessStacks stacks = walker.snapshot();
    if (options.locals) read_locals(stacks, core, where);
    print_stacks(stacks, options, DumpHeader{core.command_line() + "  (core file " + options.core_path + ")",
                                             where.runtime_file});
    return 0;
}

}  // namespace profiling
