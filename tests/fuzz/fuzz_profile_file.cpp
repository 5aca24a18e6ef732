// libFuzzer target for the .prf reader: any bytes must decode to a Profile
// or end in one profiling::Error (BadInput), never a crash, a hang or
// unbounded memory. A decoded profile is encoded and decoded again and must
// come back the same (the reader accepts only what the writer can say).
//
// Built and run by scripts/fuzz (clang, -fsanitize=fuzzer,address,undefined).
#include "profiling/errors.hpp"
#include "src/format/profile_file.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

using namespace profiling;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    Profile profile;
    try {
        profile = decode_profile(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.prf");
    } catch (const Error& e) {
        if (e.kind() != ErrorKind::BadInput) std::abort();
        return 0;
    }
    const std::string again = encode_profile(profile);
    Profile back = decode_profile(again, "again.prf");
    if (encode_profile(back) != again) std::abort();
    return 0;
}
