// Writing a file the user named (src/output_file.hpp), on a temporary
// directory: a regular file or a new path is replaced atomically; a link is
// kept and its target written; a character device, a FIFO and a socket are
// written, never replaced; a directory, a block device, a missing directory
// and a link loop are refused with one line, leaving everything as it was.
// Devices are private copies made with mknod in the temporary directory
// (root only; skipped loudly otherwise), never the machine's /dev.
#include "profiling/errors.hpp"
#include "src/format/atomic_file.hpp"
#include "src/format/exports.hpp"
#include "src/format/output_file.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <string>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace profiling;
namespace fs = std::filesystem;

namespace {

class TempDir {
public:
    TempDir() {
        std::string pattern = (fs::temp_directory_path() / "profiling-output-XXXXXX").string();
        REQUIRE(::mkdtemp(pattern.data()) != nullptr);
        path_ = pattern;
    }
    ~TempDir() {
        std::error_code ignored;
        fs::remove_all(path_, ignored);
    }
    std::string operator/(const std::string& name) const { return (path_ / name).string(); }
    std::vector<std::string> entries() const {
        std::vector<std::string> names;
        for (const auto& entry : fs::directory_iterator(path_)) names.push_back(entry.path().filename().string());
        std::sort(names.begin(), names.end());
        return names;
    }
    std::string str() const { return path_.string(); }

private:
    fs::path path_;
};

std::string read_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::string& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

struct stat lstat_of(const std::string& path) {
    struct stat st {};
    REQUIRE(::lstat(path.c_str(), &st) == 0);
    return st;
}

// More than a pipe's buffer (64 KiB), so a FIFO's writer must wait for its reader.
std::string big_payload() {
    std::string bytes(1 << 20, '\0');
    for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>('a' + i % 26);
    return bytes;
}

// A private copy of /dev/null (character device 1,3) in `dir`; false when
// this process may not make device nodes (not root).
bool make_null_device(const std::string& path) {
    return ::mknod(path.c_str(), S_IFCHR | 0666, makedev(1, 3)) == 0;
}

std::string error_of(const std::function<void()>& fn) {
    try {
        fn();
    } catch (const Error& error) {
        return error.one_line();
    }
    return "(no error)";
}

}  // namespace

TEST_CASE("output: a new path is created and a regular file replaced atomically, keeping its mode", "[output]") {
    TempDir dir;
    const std::string path = dir / "out.txt";
    write_output_file(path, "first");
    CHECK(read_bytes(path) == "first");
    ::chmod(path.c_str(), 0600);
    const ino_t before = lstat_of(path).st_ino;
    write_output_file(path, "second");
    CHECK(read_bytes(path) == "second");
    const struct stat after = lstat_of(path);
    CHECK(after.st_ino != before);   // a new inode: renamed over, never truncated in place
    CHECK((after.st_mode & 0777) == 0600);
    CHECK(dir.entries() == std::vector<std::string>{"out.txt"});
}

TEST_CASE("output: a link to a regular file is kept and its target replaced atomically", "[output]") {
    TempDir dir;
    const std::string target = dir / "target.txt";
    const std::string link = dir / "link";
    write_bytes(target, "old");
    fs::create_symlink("target.txt", link);   // relative, as ln -s makes them
    const ino_t before = lstat_of(target).st_ino;
    write_output_file(link, "new contents");
    CHECK(S_ISLNK(lstat_of(link).st_mode));
    CHECK(fs::read_symlink(link) == "target.txt");
    CHECK(read_bytes(target) == "new contents");
    CHECK(lstat_of(target).st_ino != before);
    CHECK(dir.entries() == std::vector<std::string>{"link", "target.txt"});

    SECTION("a chain of links") {
        fs::create_symlink(link, dir / "link2");
        write_output_file(dir / "link2", "via two");
        CHECK(read_bytes(target) == "via two");
        CHECK(S_ISLNK(lstat_of(dir / "link2").st_mode));
        CHECK(S_ISLNK(lstat_of(link).st_mode));
    }
}

TEST_CASE("output: a dangling link creates its target when the target's directory exists", "[output]") {
    TempDir dir;
    fs::create_directory(dir / "sub");
    fs::create_symlink(dir / "sub/made.txt", dir / "dangling");
    write_output_file(dir / "dangling", "created");
    CHECK(S_ISLNK(lstat_of(dir / "dangling").st_mode));
    CHECK(read_bytes(dir / "sub/made.txt") == "created");

    fs::create_symlink(dir / "missing/x.txt", dir / "nowhere");
    const std::string message = error_of([&] { write_output_file(dir / "nowhere", "x"); });
    CHECK(message == "cannot write " + (dir / "nowhere") + " (a link to " + (dir / "missing/x.txt") +
                         "): No such file or directory — check that the directory " + (dir / "missing") +
                         " exists, or choose another path");
    CHECK(S_ISLNK(lstat_of(dir / "nowhere").st_mode));
    CHECK(!fs::exists(dir / "missing"));
}

TEST_CASE("output: a link loop, a directory and a missing directory are refused with one line", "[output]") {
    TempDir dir;
    fs::create_symlink("b", dir / "a");
    fs::create_symlink("a", dir / "b");
    CHECK(error_of([&] { write_output_file(dir / "a", "x"); }) ==
          "cannot write " + (dir / "a") + ": a loop of symbolic links — fix the links (ls -l " + (dir / "a") +
              "), or name another path");
    CHECK_THROWS_WITH(check_output_file(dir / "a"), Catch::Contains("a loop of symbolic links"));

    fs::create_directory(dir / "d");
    CHECK(error_of([&] { write_output_file(dir / "d", "x"); }) ==
          "cannot write " + (dir / "d") + ": it is a directory — name a file in it, e.g. " + (dir / "d") +
              "/profile.prf");
    CHECK_THROWS_WITH(check_output_file(dir / "d"), Catch::Contains("it is a directory"));
    CHECK(fs::is_directory(dir / "d"));
    CHECK(fs::is_empty(dir / "d"));

    CHECK_THAT(error_of([&] { write_output_file(dir / "no/such/out.txt", "x"); }),
               Catch::Contains("No such file or directory — check that the directory " + (dir / "no/such")));
    CHECK_THROWS_WITH(check_output_file(dir / "no/such/out.txt"), Catch::Contains("No such file or directory"));
    CHECK_THROWS_WITH(write_output_file(dir / "newdir/", "x"), Catch::Contains("Is a directory"));
    CHECK(dir.entries() == std::vector<std::string>{"a", "b", "d"});
}

TEST_CASE("output: a FIFO is written, not replaced: its reader receives every byte", "[output]") {
    TempDir dir;
    const std::string fifo = dir / "fifo";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    const std::string payload = big_payload();
    check_output_file(fifo);   // no reader yet: fine before a run
    std::string received;
    std::thread reader([&] {
        // Starts late: the writer waits for it.
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        received = read_bytes(fifo);
    });
    write_output_file(fifo, payload);
    reader.join();
    CHECK(received.size() == payload.size());
    CHECK(received == payload);
    CHECK(S_ISFIFO(lstat_of(fifo).st_mode));

    SECTION("through a link") {
        fs::create_symlink("fifo", dir / "to-fifo");
        std::thread again([&] { received = read_bytes(fifo); });
        write_output_file(dir / "to-fifo", "via the link");
        again.join();
        CHECK(received == "via the link");
        CHECK(S_ISFIFO(lstat_of(fifo).st_mode));
        CHECK(S_ISLNK(lstat_of(dir / "to-fifo").st_mode));
    }
    const auto names = dir.entries();
    CHECK(std::count(names.begin(), names.end(), std::string("fifo")) == 1);
}

TEST_CASE("output: a FIFO with no reader is given up after the bounded wait, with one line", "[output]") {
    TempDir dir;
    const std::string fifo = dir / "fifo";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    const auto start = std::chrono::steady_clock::now();
    const std::string message = error_of([&] { write_output_file(fifo, "x", std::chrono::milliseconds(300)); });
    const auto took = std::chrono::steady_clock::now() - start;
    CHECK(message == "cannot write " + fifo + ": no reader on FIFO " + fifo + " (waited 0.3 s) — start its reader first (e.g. cat " + fifo + "), or name a file");
    CHECK(took >= std::chrono::milliseconds(300));
    CHECK(took < std::chrono::seconds(5));
    CHECK(S_ISFIFO(lstat_of(fifo).st_mode));
}

TEST_CASE("output: a reader that goes away early is one line, not a SIGPIPE", "[output]") {
    TempDir dir;
    const std::string fifo = dir / "fifo";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    std::thread reader([&] {
        int fd = ::open(fifo.c_str(), O_RDONLY);
        char buffer[10];
        [[maybe_unused]] auto n = ::read(fd, buffer, sizeof buffer);
        ::close(fd);
    });
    const std::string message = error_of([&] { write_output_file(fifo, big_payload()); });
    reader.join();
    CHECK_THAT(message, Catch::Contains("its reader went away after"));
}

TEST_CASE("output: a character device is written, and is still the same device afterwards", "[output]") {
    TempDir dir;
    const std::string device = dir / "null";
    if (!make_null_device(device)) {
        WARN("SKIP: mknod needs root (CAP_MKNOD); the character device cases did not run");
        return;
    }
    check_output_file(device);
    write_output_file(device, big_payload());
    struct stat st = lstat_of(device);
    CHECK(S_ISCHR(st.st_mode));
    CHECK(st.st_rdev == makedev(1, 3));

    fs::create_symlink("null", dir / "to-null");
    write_output_file(dir / "to-null", "x");
    CHECK(S_ISCHR(lstat_of(device).st_mode));
    CHECK(S_ISLNK(lstat_of(dir / "to-null").st_mode));

    // The atomic writer itself refuses to rename over a device: the last
    // guard that keeps root from replacing /dev/null with a file.
    CHECK_THROWS_WITH(write_file_atomically(device, "x"), Catch::Contains("it is not a regular file"));
    st = lstat_of(device);
    CHECK(S_ISCHR(st.st_mode));
    CHECK(st.st_rdev == makedev(1, 3));
    CHECK(dir.entries() == std::vector<std::string>{"null", "to-null"});
}

TEST_CASE("output: a block device is refused, never written or replaced", "[output]") {
    TempDir dir;
    const std::string disk = dir / "disk";
    // A node for a loop device that is never opened: refused before that.
    if (::mknod(disk.c_str(), S_IFBLK | 0600, makedev(7, 200)) != 0) {
        WARN("SKIP: mknod needs root (CAP_MKNOD); the block device case did not run");
        return;
    }
    const std::string message = error_of([&] { write_output_file(disk, "x"); });
    CHECK(message == "cannot write " + disk + ": it is a block device (a disk); a profile is never written over one — name a file");
    CHECK_THROWS_WITH(check_output_file(disk), Catch::Contains("block device"));
    CHECK(S_ISBLK(lstat_of(disk).st_mode));
}

TEST_CASE("output: a UNIX socket is connected to and written", "[output]") {
    TempDir dir;
    const std::string path = dir / "sock";
    int listener = ::socket(AF_UNIX, SOCK_STREAM, 0);
    REQUIRE(listener >= 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    REQUIRE(path.size() < sizeof address.sun_path);
    std::copy(path.begin(), path.end(), address.sun_path);
    REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    REQUIRE(::listen(listener, 1) == 0);
    std::string received;
    std::thread server([&] {
        int fd = ::accept(listener, nullptr, nullptr);
        char buffer[65536];
        for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) > 0;) received.append(buffer, static_cast<std::size_t>(n));
        ::close(fd);
    });
    const std::string payload = big_payload();
    write_output_file(path, payload);
    server.join();
    ::close(listener);
    CHECK(received == payload);
    CHECK(S_ISSOCK(lstat_of(path).st_mode));
}

TEST_CASE("output: /dev/fd/N and /proc/self/fd/N write to that descriptor", "[output]") {
    int pipe_fds[2];
    REQUIRE(::pipe(pipe_fds) == 0);
    write_output_file("/dev/fd/" + std::to_string(pipe_fds[1]), "via dev fd;");
    write_output_file("/proc/self/fd/" + std::to_string(pipe_fds[1]), "via proc");
    ::close(pipe_fds[1]);
    std::string got;
    char buffer[256];
    for (ssize_t n; (n = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0;) got.append(buffer, static_cast<std::size_t>(n));
    ::close(pipe_fds[0]);
    CHECK(got == "via dev fd;via proc");

    const std::string closed = "/dev/fd/" + std::to_string(pipe_fds[1]);
    CHECK(error_of([&] { write_output_file(closed, "x"); }) ==
          "cannot write " + closed + ": descriptor " + std::to_string(pipe_fds[1]) + " is not open — name a file instead");
    CHECK_THROWS_WITH(check_output_file(closed), Catch::Contains("is not open"));
}

TEST_CASE("output: exports refuse '-' where stdout is taken, and two options naming one file", "[output]") {
    TempDir dir;
    Exports exports;
    exports.flamegraph = "-";
    CHECK(error_of([&] { exports.check_writable(kStdoutIsPrograms); }) ==
          "--flamegraph -: stdout is the program's (launch mode) — name a file");
    exports.check_writable(nullptr);   // stdout free (attach, convert)

    exports.pprof = "/dev/stdout";
    CHECK_THROWS_WITH(exports.check_writable(nullptr), Catch::Contains("name the same file"));

    Exports same;
    write_bytes(dir / "f.txt", "");
    fs::create_symlink("f.txt", dir / "link");
    same.flamegraph = dir / "f.txt";
    same.speedscope = dir / "link";
    CHECK(error_of([&] { same.check_writable(nullptr); }) ==
          "--flamegraph " + (dir / "f.txt") + " and --speedscope " + (dir / "link") +
              " name the same file — give each its own file");
    same.speedscope = dir / "./new.json";
    same.pprof = dir / "new.json";
    CHECK_THROWS_WITH(same.check_writable(nullptr), Catch::Contains("name the same file"));

    if (make_null_device(dir / "null")) {
        Exports devices;   // a character device may be named twice
        devices.flamegraph = dir / "null";
        devices.pprof = dir / "null";
        devices.check_writable(kStdoutIsPrograms);
    } else {
        WARN("SKIP: mknod needs root; a device named twice was not checked");
    }
    Exports missing;
    missing.dump = dir / "nope/out.prf";
    CHECK_THROWS_WITH(missing.check_writable(nullptr), Catch::Contains("No such file or directory"));
}

TEST_CASE("output: one export that cannot be written does not lose the others", "[output]") {
    TempDir dir;
    Exports exports;
    exports.dump = dir / "gone/out.prf";   // its directory went away after the check
    exports.flamegraph = dir / "out.txt";
    exports.pprof = dir / "out.pb.gz";
    Profile profile;
    const std::string message = error_of([&] { exports.write(profile); });
    CHECK_THAT(message, Catch::StartsWith("cannot write " + (dir / "gone/out.prf") + ": No such file or directory"));
    CHECK_THAT(message, Catch::EndsWith("(the other outputs were written: " + (dir / "out.txt") + ", " +
                                        (dir / "out.pb.gz") + ")"));
    CHECK(fs::exists(dir / "out.txt"));
    CHECK(fs::exists(dir / "out.pb.gz"));
}
