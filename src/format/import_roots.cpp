#include "src/format/import_roots.hpp"

#include <atomic>
#include <unordered_map>
#include <vector>

namespace profiling {

namespace {

// The script of a command line `python [options] script args`: the first
// argument after the interpreter that is not an option; none after -m or -c.
std::string script_of(const std::string& command) {
    std::vector<std::string> words;
    std::size_t at = 0;
    while (at < command.size()) {
        const std::size_t space = command.find(' ', at);
        const std::size_t end = space == std::string::npos ? command.size() : space;
        if (end > at) words.push_back(command.substr(at, end - at));
        at = end + 1;
    }
    for (std::size_t i = 1; i < words.size(); ++i) {
        const std::string& word = words[i];
        if (word == "-m" || word == "-c") return {};
        if (word.starts_with("-")) continue;
        return word;
    }
    return {};
}

std::string directory_of(std::string_view path) {
    const std::size_t slash = path.rfind('/');
    return slash == std::string_view::npos ? std::string() : std::string(path.substr(0, slash + 1));
}

std::string_view without_py(std::string_view path) {
    for (std::string_view suffix : {".py", ".pyc", ".pyw"}) {
        if (path.ends_with(suffix)) return path.substr(0, path.size() - suffix.size());
    }
    return path;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// The length of ".../lib/pythonX.Y/" at the start of `file`'s last such
// directory (the standard library), or npos.
std::size_t stdlib_root(std::string_view file) {
    std::size_t found = std::string_view::npos;
    for (std::size_t at = file.find("/lib/python"); at != std::string_view::npos;
         at = file.find("/lib/python", at + 1)) {
        std::size_t end = at + 11;   // after "/lib/python"
        if (end >= file.size() || !is_digit(file[end])) continue;
        while (end < file.size() && (is_digit(file[end]) || file[end] == '.')) ++end;
        if (end < file.size() && file[end] == 't') ++end;   // free-threaded builds: python3.13t
        if (end < file.size() && file[end] == '/') found = end + 1;
    }
    return found;
}

}  // namespace

ImportRoots::ImportRoots(const Profile& profile) {
    std::string script = script_of(profile.info.command);
    if (script.empty()) return;
    if (script.starts_with("/")) {
        program_dir_ = directory_of(script);
        if (program_dir_ == "/") program_dir_.clear();   // every file would be "below" it
        return;
    }
    while (script.starts_with("./")) script.erase(0, 2);
    // A relative script: the module-level code of the same file gives its full path.
    for (const FrameInfo& frame : profile.frames.all()) {
        if (frame.function == "<module>" && frame.file.size() > script.size() &&
            frame.file.ends_with("/" + script) && frame.file.starts_with("/")) {
            program_dir_ = directory_of(std::string_view(frame.file).substr(0, frame.file.size() - script.size()));
            if (program_dir_ == "/") program_dir_.clear();
            return;
        }
    }
}

std::size_t ImportRoots::root_length(std::string_view file) const {
    // Installed packages first: site-packages lies inside the stdlib's directory.
    std::size_t best = std::string_view::npos;
    for (std::string_view root : {"/site-packages/", "/dist-packages/"}) {
        const std::size_t at = file.rfind(root);
        if (at != std::string_view::npos && (best == std::string_view::npos || at + root.size() > best)) {
            best = at + root.size();
        }
    }
    if (best != std::string_view::npos) return best;
    if (!program_dir_.empty() && file.starts_with(program_dir_) && file.size() > program_dir_.size()) {
        return program_dir_.size();
    }
    return stdlib_root(file);
}

std::string ImportRoots::shorten(std::string_view file) const {
    const std::size_t root = root_length(file);
    if (root == std::string_view::npos || root >= file.size()) return std::string(file);
    return std::string(file.substr(root));
}

std::string ImportRoots::module_of(std::string_view file) const {
    if (file.starts_with("<frozen ") && file.ends_with(">")) return std::string(file.substr(8, file.size() - 9));
    if (file.starts_with("<")) return std::string(file);
    const std::size_t root = root_length(file);
    std::string_view path = root == std::string_view::npos ? file.substr(file.rfind('/') + 1) : file.substr(root);
    path = without_py(path);
    if (path.ends_with("/__init__")) path.remove_suffix(9);
    std::string module(path);
    for (char& c : module) {
        if (c == '/') c = '.';
    }
    return module;
}

std::string ImportRoots::package_of(std::string_view file) const {
    if (file.starts_with("<frozen ") && file.ends_with(">")) {
        const std::string module = module_of(file);
        return module.substr(0, module.find('.'));
    }
    if (file.starts_with("<")) return std::string(file);
    const std::size_t root = root_length(file);
    if (root == std::string_view::npos) {
        const std::string directory = directory_of(file);
        return directory.empty() ? std::string(file) : directory;
    }
    const std::string_view below = file.substr(root);
    return std::string(without_py(below.substr(0, below.find('/'))));
}

namespace {
std::atomic<bool> g_full_paths{false};
}  // namespace

void set_full_paths(bool full) { g_full_paths.store(full, std::memory_order_relaxed); }
bool full_paths() { return g_full_paths.load(std::memory_order_relaxed); }

std::string display_label(const FrameInfo& frame, const ImportRoots& roots, bool full) {
    if (full) return frame.label();
    FrameInfo shown = frame;
    shown.file = roots.shorten(frame.file);
    return shown.label();
}

std::vector<std::string> display_labels(const Profile& profile) {
    std::vector<std::string> labels;
    labels.reserve(profile.frames.size());
    const ImportRoots roots(profile);
    std::unordered_map<std::string, std::size_t> first_with;   // label -> first frame that reads so
    std::vector<bool> clash(profile.frames.size(), false);
    for (const FrameInfo& frame : profile.frames.all()) {
        const std::size_t id = labels.size();
        labels.push_back(display_label(frame, roots));
        auto [it, fresh] = first_with.try_emplace(labels.back(), id);
        if (!fresh) clash[id] = clash[it->second] = true;
    }
    for (std::size_t id = 0; id < labels.size(); ++id) {
        if (clash[id]) labels[id] = profile.frames[static_cast<FrameId>(id)].label();
    }
    return labels;
}

}  // namespace profiling
