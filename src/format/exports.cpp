#include "src/format/exports.hpp"

#include "profiling/errors.hpp"
#include "src/format/collapsed_stacks.hpp"
#include "src/format/html_flamegraph.hpp"
#include "src/format/output_file.hpp"
#include "src/format/pprof.hpp"
#include "src/format/profile_file.hpp"
#include "src/format/speedscope.hpp"

#include <fmt/format.h>

#include <optional>
#include <utility>
#include <vector>

namespace profiling {

namespace {

// " -> PATH" in the summary line; "-" reads better as where it went.
std::string arrow(const std::string& path) { return " -> " + (path == "-" ? std::string("stdout") : path); }

}  // namespace

void Exports::check_writable(const char* stdout_owner) const {
    std::vector<std::pair<const char*, const std::string*>> named;
    for (const auto& [option, path] : {std::pair{"--dump", &dump}, std::pair{"--flamegraph", &flamegraph},
                                       std::pair{"--speedscope", &speedscope}, std::pair{"--pprof", &pprof},
                                       std::pair{"--html", &html}}) {
        if (*path) named.emplace_back(option, &**path);
    }
    for (const auto& [option, path] : named) {
        if (*path == "-" && stdout_owner) {
            throw Error(ErrorKind::BadInput, fmt::format("{} -: stdout is {}", option, stdout_owner),
                        "name a file");
        }
        check_output_file(*path);
    }
    std::vector<std::string> identities;
    for (const auto& [option, path] : named) identities.push_back(output_identity(*path));
    for (std::size_t i = 0; i < named.size(); ++i) {
        for (std::size_t j = i + 1; j < named.size(); ++j) {
            if (identities[i].empty() || identities[i] != identities[j]) continue;
            throw Error(ErrorKind::BadInput,
                        fmt::format("{} {} and {} {} name the same file", named[i].first, *named[i].second,
                                    named[j].first, *named[j].second),
                        "give each its own file");
        }
    }
}

std::string Exports::write(const Profile& profile) const {
    // Each output on its own: one that cannot be written (a FIFO nobody
    // reads, a full disk) does not lose the others.
    std::string written;
    std::string others;   // "a, b": what was written when another failed
    std::optional<Error> first_failure;
    auto attempt = [&](const std::optional<std::string>& path, auto&& write_one) {
        if (!path) return;
        try {
            write_one(*path);
            written += arrow(*path);
            others += (others.empty() ? "" : ", ") + (*path == "-" ? std::string("stdout") : *path);
        } catch (const Error& error) {
            if (!first_failure) first_failure = error;
        }
    };
    attempt(dump, [&](const std::string& path) { write_profile(profile, path); });
    attempt(flamegraph, [&](const std::string& path) { write_collapsed_stacks(profile, path, CollapsedOptions{}); });
    attempt(speedscope, [&](const std::string& path) { write_speedscope(profile, path); });
    attempt(pprof, [&](const std::string& path) { write_pprof(profile, path); });
    attempt(html, [&](const std::string& path) { write_html_flamegraph(profile, path); });
    if (first_failure) {
        if (written.empty()) throw *first_failure;
        throw Error(first_failure->kind(), first_failure->what(),
                    first_failure->hint() + " (the other outputs were written: " + others + ")");
    }
    return written;
}

}  // namespace profiling
