// Readable file names: a file relative to the import root it came from.
#include "src/format/import_roots.hpp"

#include <catch2/catch.hpp>

using namespace profiling;

TEST_CASE("import roots: the standard library, site-packages, dist-packages, the program's directory") {
    const ImportRoots roots(std::string("/srv/app/"));
    CHECK(roots.shorten("/usr/lib/python3.11/socketserver.py") == "socketserver.py");
    CHECK(roots.shorten("/root/.pyenv/versions/3.12.1/lib/python3.12/json/decoder.py") == "json/decoder.py");
    CHECK(roots.shorten("/opt/py/lib/python3.13t/threading.py") == "threading.py");   // free-threaded
    CHECK(roots.shorten("/srv/venv/lib/python3.12/site-packages/requests/api.py") == "requests/api.py");
    CHECK(roots.shorten("/usr/lib/python3/dist-packages/gevent/hub.py") == "gevent/hub.py");
    CHECK(roots.shorten("/srv/app/app/views.py") == "app/views.py");
    CHECK(roots.shorten("/srv/app/main.py") == "main.py");
    // Under no root, or not a path: unchanged.
    CHECK(roots.shorten("/home/me/tool.py") == "/home/me/tool.py");
    CHECK(roots.shorten("<frozen importlib._bootstrap>") == "<frozen importlib._bootstrap>");
    CHECK(roots.shorten("<string>") == "<string>");
    CHECK(roots.shorten("/usr/lib/python3.11/") == "/usr/lib/python3.11/");   // nothing below the root
    CHECK(roots.shorten("/usr/lib/pythonista/x.py") == "/usr/lib/pythonista/x.py");
}

TEST_CASE("import roots: modules and packages") {
    const ImportRoots roots(std::string("/srv/app/"));
    CHECK(roots.module_of("/usr/lib/python3.11/json/decoder.py") == "json.decoder");
    CHECK(roots.package_of("/usr/lib/python3.11/json/decoder.py") == "json");
    CHECK(roots.module_of("/usr/lib/python3.11/json/__init__.py") == "json");
    CHECK(roots.module_of("/usr/lib/python3.11/socketserver.py") == "socketserver");
    CHECK(roots.package_of("/usr/lib/python3.11/socketserver.py") == "socketserver");
    CHECK(roots.module_of("/srv/venv/lib/python3.12/site-packages/requests/api.py") == "requests.api");
    CHECK(roots.package_of("/srv/venv/lib/python3.12/site-packages/requests/api.py") == "requests");
    CHECK(roots.module_of("/srv/app/app/views.py") == "app.views");
    CHECK(roots.package_of("/srv/app/app/views.py") == "app");
    CHECK(roots.module_of("<frozen importlib._bootstrap>") == "importlib._bootstrap");
    CHECK(roots.package_of("<frozen importlib._bootstrap>") == "importlib");
    CHECK(roots.package_of("/home/me/tool.py") == "/home/me/");
    CHECK(roots.module_of("/home/me/tool.py") == "tool");
    CHECK(roots.package_of("<string>") == "<string>");
}

TEST_CASE("import roots: the program's directory from the command line, or its module-level frame") {
    Profile profile;
    profile.info.command = "/usr/bin/python3 -u /srv/app/main.py --port 80";
    CHECK(ImportRoots(profile).program_dir() == "/srv/app/");

    profile.info.command = "python3 ./main.py";
    profile.frames.intern({"<module>", std::nullopt, "/home/me/app/main.py", 1});
    CHECK(ImportRoots(profile).program_dir() == "/home/me/app/");

    profile.info.command = "python3 -m http.server";
    CHECK(ImportRoots(profile).program_dir().empty());
    profile.info.command = "python3 -c pass";
    CHECK(ImportRoots(profile).program_dir().empty());
    profile.info.command = "python3 /main.py";   // "/" would make every file the program's
    CHECK(ImportRoots(profile).program_dir().empty());
    profile.info.command = "python3 other.py";   // relative, and no frame of it: unknown
    CHECK(ImportRoots(profile).program_dir().empty());
}

TEST_CASE("import roots: labels as views show them; a clash or --full-paths keeps the full path") {
    Profile profile;
    profile.info.command = "/usr/bin/python3 /srv/app/main.py";
    const FrameId lib = profile.frames.intern({"serve", std::nullopt, "/usr/lib/python3.11/socketserver.py", 359});
    const FrameId own = profile.frames.intern({"<module>", std::nullopt, "/srv/app/main.py", 1});
    const FrameId venv_a = profile.frames.intern({"get", std::nullopt, "/a/lib/python3.11/site-packages/r/api.py", 9});
    const FrameId venv_b = profile.frames.intern({"get", std::nullopt, "/b/lib/python3.11/site-packages/r/api.py", 9});
    std::vector<std::string> labels = display_labels(profile);
    CHECK(labels[lib] == "serve (socketserver.py:359)");
    CHECK(labels[own] == "main.py:1");
    CHECK(labels[venv_a] == "get (/a/lib/python3.11/site-packages/r/api.py:9)");   // would read the same
    CHECK(labels[venv_b] == "get (/b/lib/python3.11/site-packages/r/api.py:9)");

    set_full_paths(true);
    labels = display_labels(profile);
    set_full_paths(false);
    CHECK(labels[lib] == "serve (/usr/lib/python3.11/socketserver.py:359)");
    CHECK(labels[own] == "/srv/app/main.py:1");
    const ImportRoots roots(profile);
    CHECK(display_label(profile.frames[lib], roots, true) == "serve (/usr/lib/python3.11/socketserver.py:359)");
    CHECK(display_label(profile.frames[lib], roots, false) == "serve (socketserver.py:359)");
}
