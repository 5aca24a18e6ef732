#include "src/exports.hpp"

#include "src/atomic_file.hpp"
#include "src/collapsed_stacks.hpp"
#include "src/pprof.hpp"
#include "src/profile_file.hpp"
#include "src/speedscope.hpp"

namespace profiling {

void Exports::check_writable() const {
    for (const auto* path : {&dump, &flamegraph, &speedscope, &pprof}) {
        if (*path) check_can_write(**path);
    }
}

std::string Exports::write(const Profile& profile) const {
    std::string written;
    if (dump) {
        write_profile(profile, *dump);
        written += " -> " + *dump;
    }
    if (flamegraph) {
        write_collapsed_stacks(profile, *flamegraph, CollapsedOptions{});
        written += " -> " + *flamegraph;
    }
    if (speedscope) {
        write_speedscope(profile, *speedscope);
        written += " -> " + *speedscope;
    }
    if (pprof) {
        write_pprof(profile, *pprof);
        written += " -> " + *pprof;
    }
    return written;
}

}  // namespace profiling
