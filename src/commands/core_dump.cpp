// `profiling dump --core FILE`: the Python stacks of a process long gone,
// from its core file (see attach/core_file.hpp for where the bytes come from);
// with --native, their native frames too (attach/core_unwinder.hpp).
#include "src/commands/dump_command.hpp"

#include "attach/core_file.hpp"
#include "attach/core_unwinder.hpp"
#include "attach/stack_walker.hpp"
#include "profiling/errors.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

namespace profiling {

namespace {

// A thread whose kernel id could not be read (seen in about a third of
// kernel cores of a 3.10 target killed by SIGSEGV: one thread state's
// native_thread_id reads 0, though live reads of the same program never do)
// gets the one the core's threads leave over — only when every thread of the
// core is a Python thread and just one id is missing, so the pairing is certain.
void name_the_last_thread(ProcessStacks& stacks, const std::vector<pid_t>& core_threads) {
    if (core_threads.size() != stacks.threads.size()) return;
    ThreadStack* unnamed = nullptr;
    std::vector<pid_t> left(core_threads.begin(), core_threads.end());
    for (ThreadStack& thread : stacks.threads) {
        if (!thread.native_id) {
            if (unnamed) return;
            unnamed = &thread;
        } else {
            left.erase(std::remove(left.begin(), left.end(), *thread.native_id), left.end());
        }
    }
    if (unnamed && left.size() == 1) unnamed->native_id = left.front();
}

}  // namespace

int run_core_dump(const DumpOptions& options) {
    if (options.blocking) {
        throw Error(ErrorKind::BadInput, "--blocking does not apply to a core file",
                    "a core's threads are already still: leave --blocking out");
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
    walker.set_task_source([&core] { return core.threads(); });
    ProcessStacks stacks = walker.snapshot();
    name_the_last_thread(stacks, core.threads());
    if (options.native) {
        attach::CoreUnwinder unwinder(options.core_path, image.executable, image.open_path);
        attach::NativeSymbols symbols(core.maps(), image.open_path);
        std::vector<std::vector<attach::UnwoundFrame>> unwound;
        for (const ThreadStack& thread : stacks.threads) {
            unwound.push_back(thread.native_id ? unwinder.unwind(*thread.native_id)
                                               : std::vector<attach::UnwoundFrame>{});
        }
        merge_native_frames(stacks, unwound, symbols);
    }
    if (options.locals) read_locals(stacks, core, where);
    print_stacks(stacks, options, DumpHeader{core.command_line() + "  (core file " + options.core_path + ")",
                                             where.runtime_file});
    return 0;
}

}  // namespace profiling
