// Merging a thread's native stack with its Python stack, in the order the
// calls ran: each C frame of the interpreter's evaluation loop is replaced by
// the Python frames it was running.
//
// Before 3.11 every Python call is one C call of the loop (2.7:
// PyEval_EvalFrameEx; 3.x: _PyEval_EvalFrameDefault). From 3.11 a Python
// call made by Python code stays in the same C call: one C frame runs a run
// of Python frames, whose outermost is its entry frame (3.11: is_entry; 3.12+
// an entry shim frame behind it). The walker marks those (Frame::entry).
#pragma once

#include "attach/native_symbols.hpp"
#include "profiling/stack.hpp"

#include <string_view>
#include <vector>

namespace profiling::attach {

// The name of the evaluation loop's C function for a Python major version.
std::string_view eval_function_name(int python_major);

// True when `function` is that loop (or a part the compiler split off, `.cold`).
bool is_eval_function(std::string_view function, std::string_view eval_name);

// One native frame: what runs at its pc, innermost (inlined) first, as
// NativeSymbols::lookup gives it, and its stack pointer (its locals lie from
// there up to the next outer frame's).
struct NativeCall {
    std::vector<NativeSymbol> symbols;
    std::uint64_t sp = 0;
};

// `python`: the thread's Python frames, innermost first, entry-marked.
// `native`: its native frames, innermost first.
//
// Which C frame ran which Python frames: on 3.12+ a run's entry shim lives
// in its C call's stack frame (Frame::entry_shim), which pins the C frame
// whatever its name (stripped binaries, the tail-calling interpreter's
// opcode functions). Otherwise, and where that fails, the C frames of the
// evaluation function, by name, take the runs in order.
// Native frames left after the Python ones ran out stay native; Python frames
// left after the native stack ended (an unwind cut short) go outermost.
std::vector<Frame> merge_stacks(const std::vector<Frame>& python, const std::vector<NativeCall>& native,
                                std::string_view eval_name);

// A native frame as the other frames are shown.
Frame native_frame(const NativeSymbol& symbol);

}  // namespace profiling::attach
