#include "attach/debug_offsets.hpp"

#include <array>
#include <cstring>
#include <optional>
#include <vector>

namespace profiling::attach {

namespace {

// Where, inside _Py_DebugOffsets, each value we use is stored. The struct is
// stable only within one minor version, so there is one row per minor.
struct DebugOffsetsPositions {
    int minor;
    std::size_t struct_size;
    std::size_t runtime_interpreters_head;
    std::size_t interp_next, interp_threads_head, interp_ceval_gil;
    std::size_t tstate_next, tstate_interp, tstate_current_frame, tstate_thread_id,
        tstate_native_thread_id, tstate_datastack_chunk;
    std::size_t iframe_size, iframe_previous, iframe_executable, iframe_instr_ptr, iframe_owner;
    std::size_t code_filename, code_name, code_qualname, code_linetable, code_firstlineno,
        code_adaptive;
    std::size_t bytes_ob_size, bytes_ob_sval;
    std::size_t unicode_size, unicode_state, unicode_length, unicode_ascii_size;
    // Used for thread names; 0 = this minor's struct does not describe it.
    std::size_t interp_imports_modules;
    std::size_t type_flags, type_basicsize, type_dictoffset, heap_type_cached_keys;
    std::size_t dict_keys, dict_values, long_tag, long_digits;
    // Thread/GIL/GC state and locals.
    std::size_t interp_gc, gc_collecting, interp_gil_state, interp_gil_holder, interp_gil_locked;
    std::size_t iframe_localsplus, code_argcount, code_localsplusnames, code_localspluskinds;
    std::size_t tuple_ob_item, type_tp_name;
};

constexpr std::array kPositions = {
    DebugOffsetsPositions{
        .minor = 13, .struct_size = 584,
        .runtime_interpreters_head = 40,
        .interp_next = 64, .interp_threads_head = 72, .interp_ceval_gil = 112,
        .tstate_next = 168, .tstate_interp = 176, .tstate_current_frame = 184,
        .tstate_thread_id = 192, .tstate_native_thread_id = 200, .tstate_datastack_chunk = 208,
        .iframe_size = 224, .iframe_previous = 232, .iframe_executable = 240,
        .iframe_instr_ptr = 248, .iframe_owner = 264,
        .code_filename = 280, .code_name = 288, .code_qualname = 296, .code_linetable = 304,
        .code_firstlineno = 312, .code_adaptive = 344,
        .bytes_ob_size = 520, .bytes_ob_sval = 528,
        .unicode_size = 536, .unicode_state = 544, .unicode_length = 552, .unicode_ascii_size = 560,
        .interp_imports_modules = 88,
        .type_flags = 392, .type_basicsize = 0, .type_dictoffset = 0, .heap_type_cached_keys = 0,
        .dict_keys = 456, .dict_values = 464, .long_tag = 496, .long_digits = 504,
        .interp_gc = 80, .gc_collecting = 576,
        .interp_gil_state = 120, .interp_gil_holder = 144, .interp_gil_locked = 136,
        .iframe_localsplus = 256, .code_argcount = 320, .code_localsplusnames = 328,
        .code_localspluskinds = 336, .tuple_ob_item = 408, .type_tp_name = 376,
    },
    DebugOffsetsPositions{
        .minor = 14, .struct_size = 760,
        .runtime_interpreters_head = 40,
        .interp_next = 64, .interp_threads_head = 72, .interp_ceval_gil = 120,
        .tstate_next = 192, .tstate_interp = 200, .tstate_current_frame = 208,
        .tstate_thread_id = 216, .tstate_native_thread_id = 224, .tstate_datastack_chunk = 232,
        .iframe_size = 248, .iframe_previous = 256, .iframe_executable = 264,
        .iframe_instr_ptr = 272, .iframe_owner = 288,
        .code_filename = 320, .code_name = 328, .code_qualname = 336, .code_linetable = 344,
        .code_firstlineno = 352, .code_adaptive = 384,
        .bytes_ob_size = 600, .bytes_ob_sval = 608,
        .unicode_size = 616, .unicode_state = 624, .unicode_length = 632, .unicode_ascii_size = 640,
        .interp_imports_modules = 96,
        .type_flags = 440, .type_basicsize = 0, .type_dictoffset = 0, .heap_type_cached_keys = 0,
        .dict_keys = 536, .dict_values = 544, .long_tag = 576, .long_digits = 584,
        .interp_gc = 88, .gc_collecting = 656,
        .interp_gil_state = 128, .interp_gil_holder = 152, .interp_gil_locked = 144,
        .iframe_localsplus = 280, .code_argcount = 360, .code_localsplusnames = 368,
        .code_localspluskinds = 376, .tuple_ob_item = 456, .type_tp_name = 424,
    },
    // 3.15 inserted base_frame, last_profiled_frame(_seq) into the thread-state group.
    DebugOffsetsPositions{
        .minor = 15, .struct_size = 888,
        .runtime_interpreters_head = 40,
        .interp_next = 64, .interp_threads_head = 72, .interp_ceval_gil = 120,
        .tstate_next = 192, .tstate_interp = 200, .tstate_current_frame = 208,
        .tstate_thread_id = 240, .tstate_native_thread_id = 248, .tstate_datastack_chunk = 256,
        .iframe_size = 312, .iframe_previous = 320, .iframe_executable = 328,
        .iframe_instr_ptr = 336, .iframe_owner = 352,
        .code_filename = 384, .code_name = 392, .code_qualname = 400, .code_linetable = 408,
        .code_firstlineno = 416, .code_adaptive = 448,
        .bytes_ob_size = 696, .bytes_ob_sval = 704,
        .unicode_size = 712, .unicode_state = 720, .unicode_length = 728, .unicode_ascii_size = 736,
        .interp_imports_modules = 96,
        .type_flags = 504, .type_basicsize = 512, .type_dictoffset = 520, .heap_type_cached_keys = 536,
        .dict_keys = 632, .dict_values = 640, .long_tag = 672, .long_digits = 680,
        // The unicode group grew a fifth field: gc moved to 752.
        .interp_gc = 88, .gc_collecting = 760,
        .interp_gil_state = 128, .interp_gil_holder = 152, .interp_gil_locked = 144,
        .iframe_localsplus = 344, .code_argcount = 424, .code_localsplusnames = 432,
        .code_localspluskinds = 440, .tuple_ob_item = 552, .type_tp_name = 488,
    },
};

const DebugOffsetsPositions* positions_for(int minor) {
    for (const auto& p : kPositions) {
        if (p.minor == minor) return &p;
    }
    return nullptr;
}

}  // namespace

DebugOffsetsResult apply_debug_offsets(MemoryReader& memory, std::uint64_t runtime_address,
                                       Layout& layout) {
    DebugOffsetsResult result;
    const DebugOffsetsPositions* pos = layout.major == 3 ? positions_for(layout.minor) : nullptr;
    if (!pos || runtime_address == 0) return result;

    std::vector<unsigned char> raw(pos->struct_size);
    if (!memory.read(runtime_address, raw.data(), raw.size())) return result;
    if (std::memcmp(raw.data(), "xdebugpy", 8) != 0) return result;

    auto field = [&](std::size_t at) {
        std::uint64_t value = 0;
        std::memcpy(&value, raw.data() + at, sizeof value);
        return static_cast<Offset>(value);
    };
    result.present = true;
    result.version_hex = static_cast<std::uint64_t>(field(8));
    result.free_threaded = field(16) != 0;
    if (((result.version_hex >> 24) & 0xff) != 3 ||
        static_cast<int>((result.version_hex >> 16) & 0xff) != layout.minor) {
        result.present = false;   // a struct of another minor: ignore it
        return result;
    }

    auto take = [&](Offset& target, std::size_t at) {
        Offset value = field(at);
        if (value < 0 || value > (1 << 20)) return;   // nonsense: keep the table
        if (target != value) {
            target = value;
            ++result.fields_overridden;
        }
    };
    take(layout.runtime_interpreters_head, pos->runtime_interpreters_head);
    take(layout.interp_next, pos->interp_next);
    take(layout.interp_threads_head, pos->interp_threads_head);
    take(layout.interp_gil_pointer, pos->interp_ceval_gil);
    take(layout.tstate_next, pos->tstate_next);
    take(layout.tstate_interp, pos->tstate_interp);
    take(layout.tstate_current_frame, pos->tstate_current_frame);
    take(layout.tstate_thread_id, pos->tstate_thread_id);
    take(layout.tstate_native_thread_id, pos->tstate_native_thread_id);
    take(layout.tstate_datastack_chunk, pos->tstate_datastack_chunk);
    take(layout.iframe_previous, pos->iframe_previous);
    take(layout.iframe_code, pos->iframe_executable);
    take(layout.iframe_instr, pos->iframe_instr_ptr);
    take(layout.iframe_owner, pos->iframe_owner);
    take(layout.code_filename, pos->code_filename);
    take(layout.code_name, pos->code_name);
    take(layout.code_qualname, pos->code_qualname);
    take(layout.code_linetable, pos->code_linetable);
    take(layout.code_firstlineno, pos->code_firstlineno);
    take(layout.code_adaptive, pos->code_adaptive);
    take(layout.varobject_size, pos->bytes_ob_size);
    take(layout.bytes_data, pos->bytes_ob_sval);
    take(layout.unicode_state, pos->unicode_state);
    take(layout.unicode_length, pos->unicode_length);
    take(layout.ascii_object_size, pos->unicode_ascii_size);
    auto take_described = [&](Offset& target, std::size_t at) {
        if (at != 0) take(target, at);
    };
    take_described(layout.interp_modules, pos->interp_imports_modules);
    take_described(layout.type_flags, pos->type_flags);
    take_described(layout.type_basicsize, pos->type_basicsize);
    take_described(layout.type_dictoffset, pos->type_dictoffset);
    take_described(layout.heaptype_cached_keys, pos->heap_type_cached_keys);
    take_described(layout.dict_keys, pos->dict_keys);
    take_described(layout.dict_values, pos->dict_values);
    take_described(layout.long_size, pos->long_tag);
    take_described(layout.long_digits, pos->long_digits);
    // sizeof(PyCompactUnicodeObject) is not described; on 3.12+ it is the
    // PyUnicodeObject size minus its one data pointer.
    Offset unicode_object_size = field(pos->unicode_size);
    if (unicode_object_size > 8 && unicode_object_size < 1024) {
        layout.compact_object_size = unicode_object_size - 8;
        layout.legacy_unicode_data = unicode_object_size - 8;
    }
    take(layout.iframe_localsplus, pos->iframe_localsplus);
    take(layout.code_argcount, pos->code_argcount);
    take(layout.code_localsplusnames, pos->code_localsplusnames);
    take(layout.code_localspluskinds, pos->code_localspluskinds);
    take(layout.tuple_items, pos->tuple_ob_item);
    take(layout.type_name, pos->type_tp_name);
    // The GC flag: the interpreter's gc struct plus the flag inside it.
    if (Offset gc = field(pos->interp_gc), collecting = field(pos->gc_collecting);
        gc > 0 && gc < (1 << 20) && collecting >= 0 && collecting < 4096) {
        Offset value = gc + collecting;
        if (layout.gc_collecting != value) {
            layout.gc_collecting = value;
            ++result.fields_overridden;
        }
    }
    // The GIL's holder and lock word are given relative to the interpreter,
    // for its own _gil: relative to the struct they apply to any GIL.
    if (Offset gil = field(pos->interp_gil_state), holder = field(pos->interp_gil_holder),
        locked = field(pos->interp_gil_locked);
        gil > 0 && holder > gil && locked > gil && holder - gil < 256 && locked - gil < 256) {
        layout.gil_last_holder = holder - gil;
        layout.gil_locked = locked - gil;
    }
    Offset frame_size = field(pos->iframe_size);
    if (frame_size > 0 && frame_size < 1024) layout.iframe_size = static_cast<int>(frame_size);
    return result;
}

}  // namespace profiling::attach
