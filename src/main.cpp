// The `profiling` command line.
#include "profiling/errors.hpp"
#include "src/dump_command.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>

namespace {

int report(const profiling::Error& error) {
    std::fprintf(stderr, "profiling: %s\n", error.one_line().c_str());
    return 1;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"profiling: see where a running Python program spends its time"};
    app.require_subcommand(1);

    profiling::DumpOptions dump;
    auto* dump_cmd = app.add_subcommand("dump", "Print every thread's Python stack of a running process");
    dump_cmd->add_option("pid", dump.pid, "Process id of the Python program")->required()->check(CLI::PositiveNumber);
    dump_cmd->add_flag("--json", dump.json, "Print JSON (frames innermost first) instead of text");
    dump_cmd->add_flag("--blocking", dump.blocking,
                       "Stop the process's threads (ptrace) for one consistent read, then resume them");

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }

    try {
        if (*dump_cmd) return profiling::run_dump(dump);
    } catch (const profiling::Error& error) {
        return report(error);
    } catch (const std::exception& error) {
        std::fprintf(stderr, "profiling: internal error: %s\n", error.what());
        return 70;
    }
    return 0;
}
