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
