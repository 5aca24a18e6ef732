// Merging native and Python stacks: random true interleavings of C calls and
// evaluation-loop calls running runs of Python frames, taken apart into what
// the unwinder and the walker see, must merge back into the same stack.
#include "attach/mixed_stack.hpp"

#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

using namespace profiling;
using namespace profiling::attach;

namespace {

struct Scenario {
    std::vector<Frame> python;       // as the walker gives them
    std::vector<NativeCall> native;  // as the unwinder and symbols give them
    std::vector<std::string> truth;  // the merged stack's names, innermost first
};

// `shims`: 3.12+ (entry shims on the C stack); `named`: the eval function has its name.
Scenario random_scenario(std::mt19937& random, bool shims, bool named) {
    Scenario s;
    std::uint64_t sp = 0x7ffc0000'0000;
    int calls = std::uniform_int_distribution<int>(1, 12)(random);
    int python_names = 0, c_names = 0;
    for (int c = 0; c < calls; ++c) {
        std::uint64_t frame_size = 16 * std::uniform_int_distribution<std::uint64_t>(2, 40)(random);
        bool evaluates = std::bernoulli_distribution(0.5)(random);
        NativeCall call;
        call.sp = sp;
        if (evaluates) {
            call.symbols.push_back({named ? "_PyEval_EvalFrameDefault" : "", "/usr/bin/python3", 0x1000, "", 0, false});
            int run = std::uniform_int_distribution<int>(1, 4)(random);   // 3.11+: several per C call
            for (int i = 0; i < run; ++i) {
                Frame frame;
                frame.function = "py" + std::to_string(python_names++);
                frame.entry = i + 1 == run;
                // The shim is a local of the eval call: somewhere in its stack frame.
                if (shims && frame.entry) frame.entry_shim = sp + 8 * std::uniform_int_distribution<std::uint64_t>(0, frame_size / 8 - 1)(random);
                s.python.push_back(frame);
                s.truth.push_back(frame.function);
            }
        } else {
            std::string name = "c" + std::to_string(c_names++);
            if (std::bernoulli_distribution(0.3)(random)) {
                call.symbols.push_back({name + "_inlined", "/lib/libc.so.6", 0x20, "", 0, true});
                s.truth.push_back(name + "_inlined");
            }
            call.symbols.push_back({name, "/lib/libc.so.6", 0x20, "", 0, false});
            s.truth.push_back(name);
        }
        s.native.push_back(call);
        sp += frame_size;
    }
    return s;
}

std::vector<std::string> names(const std::vector<Frame>& frames) {
    std::vector<std::string> out;
    for (const Frame& frame : frames) out.push_back(frame.function);
    return out;
}

}  // namespace

TEST_CASE("merged stacks equal the interleaving that ran", "[mixed]") {
    std::mt19937 random(20261204);
    for (int round = 0; round < 3000; ++round) {
        bool shims = round % 3 != 0;
        bool named = round % 3 != 1;   // shims without names: a stripped 3.12+ or the tail-calling loop
        Scenario s = random_scenario(random, shims, named);
        CAPTURE(round, shims, named, s.truth);
        CHECK(names(merge_stacks(s.python, s.native, "_PyEval_EvalFrameDefault")) == s.truth);
    }
}

TEST_CASE("an unwind cut short keeps every Python frame, in order, outermost", "[mixed]") {
    std::mt19937 random(7);
    for (int round = 0; round < 1000; ++round) {
        Scenario s = random_scenario(random, round % 2 == 0, true);
        std::size_t keep = std::uniform_int_distribution<std::size_t>(0, s.native.size())(random);
        s.native.resize(keep);
        std::vector<std::string> merged = names(merge_stacks(s.python, s.native, "_PyEval_EvalFrameDefault"));
        std::vector<std::string> python_seen;
        for (const std::string& name : merged) {
            if (name.rfind("py", 0) == 0) python_seen.push_back(name);
        }
        CAPTURE(round, merged);
        CHECK(python_seen == names(s.python));
    }
}

TEST_CASE("the evaluation function is recognised with the compiler's suffixes only", "[mixed]") {
    CHECK(is_eval_function("_PyEval_EvalFrameDefault", "_PyEval_EvalFrameDefault"));
    CHECK(is_eval_function("_PyEval_EvalFrameDefault.cold", "_PyEval_EvalFrameDefault"));
    CHECK_FALSE(is_eval_function("_PyEval_EvalFrameDefaultX", "_PyEval_EvalFrameDefault"));
    CHECK_FALSE(is_eval_function("PyEval_EvalFrameEx", "_PyEval_EvalFrameDefault"));
    CHECK(eval_function_name(2) == "PyEval_EvalFrameEx");
    CHECK(eval_function_name(3) == "_PyEval_EvalFrameDefault");
}
