#include "src/sample/task_clock_events.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

namespace profiling {

namespace {

// 2^3 data pages per CPU: 2,048 records of 16 bytes, far more than the
// one record per period that one CPU can produce between two ticks.
constexpr std::size_t kDataPages = 8;

std::size_t page_size() { return static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)); }

// The CPUs that are online now ("0-3,6" in sysfs); every configured one if
// that file cannot be read.
std::vector<int> online_cpus() {
    std::vector<int> cpus;
    if (FILE* f = std::fopen("/sys/devices/system/cpu/online", "re")) {
        int first = 0, last = 0;
        char sep = 0;
        while (std::fscanf(f, "%d", &first) == 1) {
            last = first;
            if (std::fscanf(f, "%c", &sep) == 1 && sep == '-') {
                if (std::fscanf(f, "%d", &last) != 1) break;
                if (std::fscanf(f, "%c", &sep) != 1) sep = 0;
            }
            for (int c = first; c <= last; ++c) cpus.push_back(c);
            if (sep != ',') break;
        }
        std::fclose(f);
    }
    if (cpus.empty()) {
        long n = ::sysconf(_SC_NPROCESSORS_CONF);
        for (int c = 0; c < n; ++c) cpus.push_back(c);
    }
    return cpus;
}

}  // namespace

int TaskClockEvents::open_event(pid_t tid, int cpu, bool dummy) {
    perf_event_attr attr{};
    attr.size = sizeof attr;
    attr.type = PERF_TYPE_SOFTWARE;
    attr.config = dummy ? PERF_COUNT_SW_DUMMY : PERF_COUNT_SW_TASK_CLOCK;
    attr.sample_type = PERF_SAMPLE_TID;
    if (records_ == Records::CpuPeriods) {
        attr.sample_period = dummy ? 0 : period_ns_;
    } else {
        // Counting only; the switch records carry the thread and the time
        // (sample_id_all) so records of different CPUs can be ordered.
        attr.sample_type |= PERF_SAMPLE_TIME;
        attr.sample_id_all = 1;
        attr.context_switch = dummy ? 0 : 1;
        // On the sampler's clock, so cpu mode can tell where a thread was
        // when a tick was due (events sharing a buffer share their clock).
        attr.use_clockid = 1;
        attr.clockid = CLOCK_MONOTONIC;
    }
    // Never woken: the sampler reads the buffers on its own schedule.
    attr.watermark = 0;
    attr.wakeup_events = 0;
    attr.exclude_kernel = exclude_kernel_;
    attr.exclude_hv = exclude_kernel_;
    return static_cast<int>(::syscall(SYS_perf_event_open, &attr, tid, cpu, -1, PERF_FLAG_FD_CLOEXEC));
}

TaskClockEvents::TaskClockEvents(std::uint64_t period_ns, Records records)
    : period_ns_(period_ns < 10'000 ? 10'000 : period_ns), records_(records) {
    // Hundreds of threads on many CPUs need many descriptors: raise the soft
    // limit as far as allowed, and let the events use half of it at most
    // (threads past that are read from /proc).
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) == 0) {
        const rlim_t wanted = limit.rlim_max == RLIM_INFINITY ? 65536 : std::min<rlim_t>(limit.rlim_max, 65536);
        if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < wanted) {
            rlimit raised = limit;
            raised.rlim_cur = wanted;
            if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
        }
        fd_budget_ = limit.rlim_cur == RLIM_INFINITY ? 32768 : static_cast<std::size_t>(limit.rlim_cur / 2);
    }
    const std::size_t length = (1 + kDataPages) * page_size();
    for (int cpu : online_cpus()) {
        // Our own thread (pid 0): allowed at every perf_event_paranoid level
        // but 3+, it owns the buffer, never produces a record.
        int fd = open_event(0, cpu, true);
        if (fd < 0 && (errno == EACCES || errno == EPERM) && !exclude_kernel_) {
            exclude_kernel_ = true;   // paranoid 2 without privilege: user-space time only
            fd = open_event(0, cpu, true);
        }
        if (fd < 0) {
            if (errno == ENODEV || errno == EINVAL) continue;   // a CPU that went offline
            return;
        }
        void* map = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (map == MAP_FAILED) {
            ::close(fd);
            return;   // over perf_event_mlock_kb
        }
        rings_.push_back({fd, cpu, map});
    }
    usable_ = !rings_.empty();
}

TaskClockEvents::~TaskClockEvents() {
    const std::size_t length = (1 + kDataPages) * page_size();
    for (Ring& ring : rings_) {
        ::munmap(ring.map, length);
        ::close(ring.fd);
    }
}

bool TaskClockEvents::track(pid_t tid, std::vector<int>& fds) {
    if (!usable_ || fds_open_ + rings_.size() > fd_budget_) return false;
    for (const Ring& ring : rings_) {
        int fd = open_event(tid, ring.cpu, false);
        if (fd < 0 || ::ioctl(fd, PERF_EVENT_IOC_SET_OUTPUT, ring.fd) != 0) {
            if (fd >= 0) ::close(fd);
            for (int opened : fds) ::close(opened);
            fds.clear();
            return false;
        }
        fds.push_back(fd);
    }
    fds_open_ += fds.size();
    return true;
}

void TaskClockEvents::untrack(std::vector<int>& fds) {
    fds_open_ -= std::min(fds_open_, fds.size());
    for (int fd : fds) ::close(fd);
    fds.clear();
}

template <typename Visit>
bool TaskClockEvents::drain_records(Visit&& visit) {
    const std::size_t data_size = kDataPages * page_size();
    bool complete = true;
    for (Ring& ring : rings_) {
        auto* meta = static_cast<perf_event_mmap_page*>(ring.map);
        const auto* data = static_cast<const unsigned char*>(ring.map) + page_size();
        const std::uint64_t head = __atomic_load_n(&meta->data_head, __ATOMIC_ACQUIRE);
        std::uint64_t tail = meta->data_tail;
        while (tail + sizeof(perf_event_header) <= head) {
            // A record may wrap around the end of the buffer: copy it out.
            unsigned char record[32] = {};
            perf_event_header header{};
            for (std::size_t i = 0; i < sizeof header; ++i) {
                reinterpret_cast<unsigned char*>(&header)[i] = data[(tail + i) % data_size];
            }
            if (header.size < sizeof header || tail + header.size > head) break;
            const std::size_t copy = header.size < sizeof record ? header.size : sizeof record;
            for (std::size_t i = 0; i < copy; ++i) record[i] = data[(tail + i) % data_size];
            if (header.type == PERF_RECORD_LOST) {
                complete = false;
            } else {
                visit(header, record);
            }
            tail += header.size;
        }
        __atomic_store_n(&meta->data_tail, head, __ATOMIC_RELEASE);
    }
    return complete;
}

bool TaskClockEvents::drain(std::vector<pid_t>& ran) {
    return drain_records([&](const perf_event_header& header, const unsigned char* record) {
        if (header.type == PERF_RECORD_SAMPLE && header.size >= sizeof header + 8) {
            std::uint32_t ids[2];   // PERF_SAMPLE_TID: pid, tid
            std::memcpy(ids, record + sizeof header, sizeof ids);
            ran.push_back(static_cast<pid_t>(ids[1]));
        }
    });
}

bool TaskClockEvents::drain_switches(std::vector<Switch>& switches) {
    return drain_records([&](const perf_event_header& header, const unsigned char* record) {
        // PERF_RECORD_SWITCH, then sample_id: pid, tid (PERF_SAMPLE_TID), time.
        if (header.type != PERF_RECORD_SWITCH || header.size < sizeof header + 16) return;
        std::uint32_t ids[2];
        std::uint64_t time = 0;
        std::memcpy(ids, record + sizeof header, sizeof ids);
        std::memcpy(&time, record + sizeof header + 8, sizeof time);
        switches.push_back({static_cast<pid_t>(ids[1]), time, (header.misc & PERF_RECORD_MISC_SWITCH_OUT) == 0});
    });
}

std::optional<std::uint64_t> TaskClockEvents::cpu_time(const std::vector<int>& fds) const {
    std::uint64_t total = 0;
    for (int fd : fds) {
        std::uint64_t value = 0;
        if (::read(fd, &value, sizeof value) != static_cast<ssize_t>(sizeof value)) return std::nullopt;
        total += value;
    }
    return total;
}

}  // namespace profiling
