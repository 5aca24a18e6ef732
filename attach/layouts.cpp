// The tables. Sources: offsetof() probes against each version's headers and
// live checks against running interpreters (docs/design/cpython-layouts.md).
#include "attach/layouts.hpp"

#include <algorithm>
#include <array>
#include <initializer_list>

namespace profiling::attach {

namespace {

using LT = LineTableFormat;

constexpr Layout py27{
    .major = 2, .minor = 7,
    .interp_next = 0, .interp_threads_head = 8,
    .tstate_next = 0, .tstate_interp = 8, .tstate_frame = 16, .tstate_thread_id = 144,
    .frame_model = FrameModel::FrameObjects,
    .frame_back = 24, .frame_code = 32, .frame_lasti = 120,
    .code_filename = 80, .code_name = 88, .code_firstlineno = 96, .code_linetable = 104,
    .line_format = LT::LnotabUnsigned,
    .bytes_data = 36, .strings = StringModel::Py2Str,
    .gil_model = GilModel::CurrentSymbol,
    .interp_modules = 16,
    .dict_model = DictModel::OpenTable27, .dict_keys = 40, .dict_values = kAbsent, .dict_mask = 32,
    .instance_dict = InstanceDictModel::DictOffset, .int_model = IntModel::Py2IntOrLong,
    .gc_model = GcModel::StaticSymbol,
    .frame_localsplus = 376,
    .code_argcount = 16, .code_flags = 28, .code_nlocals = 20,
    .code_varnames = 56, .code_cellvars = 72, .code_freevars = 64,
};

constexpr Layout py36{
    .major = 3, .minor = 6,
    .interp_next = 0, .interp_threads_head = 8,
    .tstate_next = 8, .tstate_interp = 16, .tstate_frame = 24, .tstate_thread_id = 152,
    .frame_model = FrameModel::FrameObjects,
    .frame_back = 24, .frame_code = 32, .frame_lasti = 120,
    .code_filename = 96, .code_name = 104, .code_firstlineno = 36, .code_linetable = 112,
    .line_format = LT::LnotabSigned,
    .gil_model = GilModel::CurrentSymbol,
    .interp_modules = 16, .heaptype_cached_keys = 856,
    .dict_model = DictModel::Compact36, .instance_dict = InstanceDictModel::DictOffset,
    .gc_model = GcModel::StaticSymbol,
    .frame_localsplus = 376,
    .code_argcount = 16, .code_kwonlyargcount = 20, .code_flags = 32, .code_nlocals = 24,
    .code_varnames = 64, .code_cellvars = 80, .code_freevars = 72,
};

// 3.7.0-3.7.3 keep gilstate.tstate_current 88 bytes lower than 3.7.4+.
constexpr Layout py37_early{
    .major = 3, .minor = 7, .first_micro = 0,
    .runtime_interpreters_head = 24, .runtime_tstate_current = 1392,
    .interp_next = 0, .interp_threads_head = 8,
    .tstate_next = 8, .tstate_interp = 16, .tstate_frame = 24, .tstate_thread_id = 176,
    .frame_model = FrameModel::FrameObjects,
    .frame_back = 24, .frame_code = 32, .frame_lasti = 104,
    .code_filename = 96, .code_name = 104, .code_firstlineno = 36, .code_linetable = 112,
    .line_format = LT::LnotabSigned,
    .gil_model = GilModel::RuntimeCurrent,
    .interp_modules = 40, .heaptype_cached_keys = 856,
    .dict_model = DictModel::Compact36, .instance_dict = InstanceDictModel::DictOffset,
    // Where 3.7.0-3.7.3 keep the GIL struct and the GC flag was not measured: unknown.
    .gc_model = GcModel::Runtime,
    .frame_localsplus = 360,
    .code_argcount = 16, .code_kwonlyargcount = 20, .code_flags = 32, .code_nlocals = 24,
    .code_varnames = 64, .code_cellvars = 80, .code_freevars = 72,
};

constexpr Layout py37 = [] {
    Layout l = py37_early;
    l.first_micro = 4;
    l.runtime_tstate_current = 1480;
    l.runtime_gil = 1264;
    l.gc_collecting = 632;
    return l;
}();

constexpr Layout py38{
    .major = 3, .minor = 8,
    .runtime_interpreters_head = 32, .runtime_tstate_current = 1368,
    .interp_next = 0, .interp_threads_head = 8,
    .tstate_next = 8, .tstate_interp = 16, .tstate_frame = 24, .tstate_thread_id = 176,
    .frame_model = FrameModel::FrameObjects,
    .frame_back = 24, .frame_code = 32, .frame_lasti = 104,
    .code_filename = 104, .code_name = 112, .code_firstlineno = 40, .code_linetable = 120,
    .line_format = LT::LnotabSigned,
    .gil_model = GilModel::RuntimeCurrent,
    .interp_modules = 56, .heaptype_cached_keys = 872,
    .dict_model = DictModel::Compact36, .instance_dict = InstanceDictModel::DictOffset,
    .runtime_gil = 1152,
    .gc_model = GcModel::Runtime, .gc_collecting = 544,
    .frame_localsplus = 360,
    .code_argcount = 16, .code_posonlyargcount = 20, .code_kwonlyargcount = 24, .code_flags = 36,
    .code_nlocals = 28, .code_varnames = 72, .code_cellvars = 88, .code_freevars = 80,
};

constexpr Layout py39 = [] {
    Layout l = py38;
    l.minor = 9;
    l.runtime_tstate_current = 568;
    l.interp_modules = 856;
    l.heaptype_cached_keys = 864;
    l.runtime_gil = 352;
    l.gc_model = GcModel::Interpreter;
    l.gc_collecting = 816;
    return l;
}();

constexpr Layout py310 = [] {
    Layout l = py39;
    l.minor = 10;
    l.frame_lasti = 96;
    l.lasti_to_bytes = 2;   // f_lasti counts 2-byte instructions
    l.line_format = LT::Linetable310;
    l.heaptype_cached_keys = 872;
    l.frame_localsplus = 352;
    return l;
}();

constexpr Layout py311{
    .major = 3, .minor = 11,
    .runtime_interpreters_head = 40, .runtime_tstate_current = 576,
    .interp_next = 0, .interp_threads_head = 16,
    .tstate_next = 8, .tstate_interp = 16, .tstate_cframe = 56, .cframe_current_frame = 8,
    .tstate_thread_id = 152, .tstate_native_thread_id = 160, .tstate_datastack_chunk = 296,
    .frame_model = FrameModel::InterpreterFrames,
    .iframe_code = 32, .iframe_previous = 48, .iframe_instr = 56, .iframe_owner = 69,
    .iframe_size = 80, .iframe_is_entry = 68,
    .code_filename = 112, .code_name = 120, .code_qualname = 128, .code_firstlineno = 72,
    .code_linetable = 136, .code_adaptive = 184, .code_first_traceable = 168,
    .line_format = LT::Locations311,
    .gil_model = GilModel::RuntimeCurrent,
    .interp_modules = 888, .heaptype_cached_keys = 872,
    .dict_model = DictModel::Compact311, .instance_dict = InstanceDictModel::Managed311,
    .runtime_gil = 360,
    .gc_model = GcModel::Interpreter, .gc_collecting = 848,
    .iframe_localsplus = 72,
    .code_argcount = 56, .code_posonlyargcount = 60, .code_kwonlyargcount = 64, .code_flags = 48,
    .code_localsplusnames = 96, .code_localspluskinds = 104,
};

constexpr Layout py312{
    .major = 3, .minor = 12,
    .runtime_interpreters_head = 40,
    .interp_next = 0, .interp_threads_head = 72, .interp_gil_pointer = 384,
    .tstate_next = 8, .tstate_interp = 16, .tstate_cframe = 56, .cframe_current_frame = 0,
    .tstate_thread_id = 136, .tstate_native_thread_id = 144, .tstate_datastack_chunk = 232,
    .frame_model = FrameModel::InterpreterFrames,
    .iframe_code = 0, .iframe_previous = 8, .iframe_instr = 56, .iframe_owner = 70,
    .iframe_size = 80, .first_shim_owner = 3,   // FRAME_OWNED_BY_CSTACK
    .entry_frames_hold_shim = true,             // interp->interpreter_trampoline
    .code_filename = 112, .code_name = 120, .code_qualname = 128, .code_firstlineno = 68,
    .code_linetable = 136, .code_adaptive = 192, .code_first_traceable = 176,
    .line_format = LT::Locations311,
    .ascii_object_size = 40, .compact_object_size = 56, .legacy_unicode_data = 56,
    .gil_model = GilModel::InterpreterGil,
    .interp_modules = 944, .heaptype_cached_keys = 880,
    .dict_model = DictModel::Compact311, .instance_dict = InstanceDictModel::DictOrValues312,
    .int_model = IntModel::TaggedDigits,
    .gc_model = GcModel::Interpreter, .gc_collecting = 312,
    .iframe_localsplus = 72,
    .code_argcount = 52, .code_posonlyargcount = 56, .code_kwonlyargcount = 60, .code_flags = 48,
    .code_localsplusnames = 96, .code_localspluskinds = 104,
};

constexpr Layout py313{
    .major = 3, .minor = 13,
    .runtime_interpreters_head = 632,
    .interp_next = 7264, .interp_threads_head = 7344, .interp_gil_pointer = 16,
    .tstate_next = 8, .tstate_interp = 16, .tstate_current_frame = 72,
    .tstate_thread_id = 152, .tstate_native_thread_id = 160, .tstate_datastack_chunk = 232,
    .frame_model = FrameModel::InterpreterFrames,
    .iframe_code = 0, .iframe_previous = 8, .iframe_instr = 56, .iframe_owner = 70,
    .iframe_size = 80, .first_shim_owner = 3,   // FRAME_OWNED_BY_CSTACK; f_executable is None
    .code_filename = 112, .code_name = 120, .code_qualname = 128, .code_firstlineno = 68,
    .code_linetable = 136, .code_adaptive = 200, .code_first_traceable = 184,
    .line_format = LT::Locations311,
    .ascii_object_size = 40, .compact_object_size = 56, .legacy_unicode_data = 56,
    .gil_model = GilModel::InterpreterGil,
    .interp_modules = 7656, .heaptype_cached_keys = 880,
    .dict_model = DictModel::Compact311, .dict_values_items = 8,
    .instance_dict = InstanceDictModel::InlineValues313, .int_model = IntModel::TaggedDigits,
    .gc_model = GcModel::Interpreter, .gc_collecting = 7600,   // gc 7400 + collecting 200
    .iframe_localsplus = 72,
    .code_argcount = 52, .code_posonlyargcount = 56, .code_kwonlyargcount = 60, .code_flags = 48,
    .code_localsplusnames = 96, .code_localspluskinds = 104,
};

constexpr Layout py314 = [] {
    Layout l = py313;
    l.minor = 14;
    l.runtime_interpreters_head = 808;
    l.interp_next = 7272;
    l.iframe_owner = 74;
    l.iframe_size = 88;
    l.first_shim_owner = 3;      // FRAME_OWNED_BY_INTERPRETER (entry frames)
    l.code_is_tagged = true;     // f_executable is a _PyStackRef
    l.code_adaptive = 208;
    l.code_first_traceable = 192;
    l.interp_modules = 7688;
    l.gc_collecting = 7408 + 192;
    l.iframe_localsplus = 80;
    l.locals_are_tagged = true;  // localsplus holds _PyStackRefs
    l.tuple_items = 32;          // tuples cache their hash before ob_item
    return l;
}();

// 3.15 grew the thread state near its front (base_frame, last_profiled_frame).
constexpr Layout py315 = [] {
    Layout l = py314;
    l.minor = 15;
    l.runtime_interpreters_head = 936;
    l.interp_next = 7264;
    l.interp_threads_head = 7336;
    l.tstate_thread_id = 176;
    l.tstate_native_thread_id = 184;
    l.tstate_datastack_chunk = 256;
    l.interp_modules = 7592;
    l.heaptype_cached_keys = 888;
    l.resume_code_units = 2;     // RESUME gained an inline cache entry
    l.gc_collecting = 7400 + 112;
    return l;
}();

constexpr std::array kLayouts = {
    py27, py36, py37_early, py37, py38, py39, py310, py311, py312, py313, py314, py315,
};

}  // namespace

std::size_t Layout::thread_state_span() const {
    Offset highest = std::max({tstate_next, tstate_interp, tstate_frame, tstate_cframe,
                               tstate_current_frame, tstate_thread_id,
                               tstate_native_thread_id, tstate_datastack_chunk + 8});
    return static_cast<std::size_t>(highest) + 8;
}

std::size_t Layout::code_object_span() const {
    Offset highest = std::max({object_type, code_filename, code_name, code_qualname,
                               code_firstlineno, code_linetable, code_first_traceable});
    return static_cast<std::size_t>(highest) + 8;
}

std::optional<Layout> layout_for(const PythonVersion& version) {
    const Layout* best = nullptr;
    for (const Layout& layout : kLayouts) {
        if (layout.major == version.major && layout.minor == version.minor &&
            layout.first_micro <= version.micro) {
            best = &layout;   // tables are ordered by first_micro
        }
    }
    if (!best) return std::nullopt;
    return *best;
}

std::string supported_versions_text() { return "2.7 and 3.6 to 3.15"; }

}  // namespace profiling::attach
