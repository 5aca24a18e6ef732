#include "attach/native_unwinder.hpp"

#include <libunwind-ptrace.h>

namespace profiling::attach {

NativeUnwinder::NativeUnwinder() {
    auto space = unw_create_addr_space(&_UPT_accessors, 0);
    // The unwind tables of a binary do not change while it is mapped: keep
    // what was looked up for the next thread (the threads share most frames).
    if (space) unw_set_caching_policy(space, UNW_CACHE_GLOBAL);
    address_space_ = space;
}

NativeUnwinder::~NativeUnwinder() {
    if (address_space_) unw_destroy_addr_space(static_cast<unw_addr_space_t>(address_space_));
}

std::vector<UnwoundFrame> NativeUnwinder::unwind(pid_t tid, std::size_t max_depth) {
    std::vector<UnwoundFrame> frames;
    auto space = static_cast<unw_addr_space_t>(address_space_);
    if (!space) return frames;
    void* context = _UPT_create(tid);
    if (!context) return frames;
    unw_cursor_t cursor;
    if (unw_init_remote(&cursor, space, context) == 0) {
        unw_word_t previous_sp = 0;
        do {
            unw_word_t ip = 0, sp = 0;
            if (unw_get_reg(&cursor, UNW_REG_IP, &ip) < 0 || ip == 0) break;
            if (unw_get_reg(&cursor, UNW_REG_SP, &sp) < 0) break;
            // Each caller's frame lies above its callee's: a step that does
            // not move up is a corrupt stack going round in circles.
            if (!frames.empty() && sp <= previous_sp) break;
            previous_sp = sp;
            frames.push_back({ip, sp});
        } while (frames.size() < max_depth && unw_step(&cursor) > 0);
    }
    _UPT_destroy(context);
    return frames;
}

}  // namespace profiling::attach
