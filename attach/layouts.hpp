// Per-version knowledge of CPython's internal structures, as data.
//
// Each Layout says where the reader finds the fields it needs in one
// interpreter version. Nothing else in the reader knows about versions
// except through these fields (and the enums that name the few genuinely
// different models). Offsets are bytes on x86-64; -1 means "no such field".
#pragma once

#include "attach/line_table.hpp"
#include "profiling/stack.hpp"

#include <cstdint>
#include <optional>
#include <string>

namespace profiling::attach {

// How frames are chained.
enum class FrameModel : std::uint8_t {
    FrameObjects,       // <= 3.10: PyFrameObject via tstate->frame and f_back
    InterpreterFrames,  // 3.11+: _PyInterpreterFrame via previous
};

// How the thread that holds the GIL is found.
enum class GilModel : std::uint8_t {
    CurrentSymbol,      // 2.7, 3.6: *_PyThreadState_Current
    RuntimeCurrent,     // 3.7-3.11: _PyRuntime.gilstate.tstate_current
    InterpreterGil,     // 3.12+: interp->ceval.gil -> {last_holder, locked}
};

enum class StringModel : std::uint8_t {
    Py2Str,             // PyStringObject: ob_size, then chars at bytes_data
    Pep393,             // PyASCIIObject / PyCompactUnicodeObject
};

// How a dict stores its entries (thread_names.cpp reads dicts).
enum class DictModel : std::uint8_t {
    OpenTable27,        // 2.7: ma_mask + ma_table of {hash, key, value}
    Compact36,          // 3.6-3.10: ma_keys {refcnt, dk_size, lookup, usable, nentries, indices[]}
    Compact311,         // 3.11+: ma_keys {refcnt, log2_size, log2_index_bytes, kind, ..., indices[]}
};

// Where an instance keeps its attributes (the Thread object's name).
enum class InstanceDictModel : std::uint8_t {
    DictOffset,         // <= 3.10: PyObject* __dict__ at tp_dictoffset
    Managed311,         // 3.11: PyDictValues* at -32, dict at -24 (Py_TPFLAGS_MANAGED_DICT)
    DictOrValues312,    // 3.12: one word at -24: the dict, or the values pointer - 1 (odd)
    InlineValues313,    // 3.13+: dict at -24, else PyDictValues inline at tp_basicsize
};

// Where the garbage collector's `collecting` flag lives.
enum class GcModel : std::uint8_t {
    StaticSymbol,       // 2.7, 3.6: static int collecting in gcmodule.c (.symtab only)
    Runtime,            // 3.7, 3.8: _PyRuntime.gc.collecting
    Interpreter,        // 3.9+: interp->gc.collecting
};

enum class IntModel : std::uint8_t {
    Py2IntOrLong,       // 2.7: PyIntObject (ob_ival) or PyLongObject (ob_size)
    SizedDigits,        // 3.0-3.11: ob_size = +/- digit count, 30-bit digits
    TaggedDigits,       // 3.12+: lv_tag = count << 3 | sign (0 +, 1 zero, 2 -)
};

using Offset = std::int64_t;
inline constexpr Offset kAbsent = -1;

struct Layout {
    int major = 0;
    int minor = 0;
    int first_micro = 0;        // this table applies from major.minor.first_micro

    // _PyRuntime (3.7+); 2.7/3.6 have a static interp_head instead.
    Offset runtime_interpreters_head = kAbsent;
    Offset runtime_tstate_current = kAbsent;

    // PyInterpreterState
    Offset interp_next = kAbsent;
    Offset interp_threads_head = kAbsent;
    Offset interp_gil_pointer = kAbsent;     // 3.12+: struct _gil_runtime_state*

    // PyThreadState
    Offset tstate_next = kAbsent;
    Offset tstate_interp = kAbsent;
    Offset tstate_frame = kAbsent;           // <= 3.10: PyFrameObject*
    Offset tstate_cframe = kAbsent;          // 3.11, 3.12: _PyCFrame*
    Offset cframe_current_frame = kAbsent;   //   ...->current_frame
    Offset tstate_current_frame = kAbsent;   // 3.13+
    Offset tstate_thread_id = kAbsent;       // pthread_self()
    Offset tstate_native_thread_id = kAbsent;// 3.11+: kernel tid
    Offset tstate_datastack_chunk = kAbsent; // 3.11+: newest chunk; top at +8

    FrameModel frame_model = FrameModel::FrameObjects;

    // PyFrameObject (<= 3.10)
    Offset frame_back = kAbsent;
    Offset frame_code = kAbsent;
    Offset frame_lasti = kAbsent;            // int
    int lasti_to_bytes = 1;                  // 3.10 counts instructions: x2

    // _PyInterpreterFrame (3.11+)
    Offset iframe_code = kAbsent;
    Offset iframe_previous = kAbsent;
    Offset iframe_instr = kAbsent;           // prev_instr (3.11/3.12), instr_ptr (3.13+)
    Offset iframe_owner = kAbsent;           // char
    int iframe_size = 0;
    int first_shim_owner = 256;              // owner values >= this are C-stack shims
                                             // (3.12+: the entry shim behind each C call's first frame)
    Offset iframe_is_entry = kAbsent;        // bool, 3.11: the first frame of its C evaluation call
    int generator_owner = 1;                 // FRAME_OWNED_BY_GENERATOR
    bool entry_frames_hold_shim = false;     // 3.12: entry frames point at the trampoline code
    bool code_is_tagged = false;             // 3.14+: _PyStackRef, clear low 2 bits

    // PyCodeObject
    Offset code_filename = kAbsent;
    Offset code_name = kAbsent;
    Offset code_qualname = kAbsent;          // 3.11+
    Offset code_firstlineno = kAbsent;       // int
    Offset code_linetable = kAbsent;         // co_lnotab / co_linetable
    Offset code_adaptive = kAbsent;          // 3.11+: inline bytecode
    Offset code_first_traceable = kAbsent;   // 3.11+: int _co_firsttraceable (code units)
    int resume_code_units = 1;               // 3.11+: RESUME and its inline caches, in code units
    LineTableFormat line_format = LineTableFormat::LnotabSigned;

    // Objects
    Offset object_type = 8;
    Offset varobject_size = 16;
    Offset bytes_data = 32;
    StringModel strings = StringModel::Pep393;
    Offset unicode_length = 16;
    Offset unicode_state = 32;
    Offset ascii_object_size = 48;           // sizeof(PyASCIIObject)
    Offset compact_object_size = 72;         // sizeof(PyCompactUnicodeObject)
    Offset legacy_unicode_data = 72;         // PyUnicodeObject.data.any

    GilModel gil_model = GilModel::CurrentSymbol;
    Offset gil_last_holder = 8;              // in struct _gil_runtime_state (3.12+)
    Offset gil_locked = 16;

    // Thread names: interp -> modules dict -> "threading" -> md_dict -> "_active"
    // -> {ident: Thread} -> Thread._name (thread_names.cpp).
    Offset interp_modules = kAbsent;         // interp->modules / interp->imports.modules (3.12+)
    Offset module_dict = 16;                 // PyModuleObject.md_dict
    Offset type_basicsize = 32;              // PyTypeObject
    Offset type_flags = 168;
    Offset type_dictoffset = 288;
    Offset heaptype_cached_keys = kAbsent;   // PyHeapTypeObject.ht_cached_keys (3.x)
    DictModel dict_model = DictModel::Compact36;
    Offset dict_keys = 32;                   // 3.x ma_keys; 2.7: ma_table
    Offset dict_values = 40;                 // 3.x ma_values (split tables); absent in 2.7
    Offset dict_mask = kAbsent;              // 2.7 ma_mask
    Offset dict_values_items = 0;            // PyDictValues.values (3.13+: 8, after capacity..valid)
    InstanceDictModel instance_dict = InstanceDictModel::DictOffset;
    IntModel int_model = IntModel::SizedDigits;
    Offset long_size = 16;                   // ob_size, or lv_tag (3.12+)
    Offset long_digits = 24;                 // ob_digit[]
    Offset int_value = 16;                   // 2.7 PyIntObject.ob_ival

    // Thread and GIL state (thread_states.cpp). The GIL struct is
    // `struct _gil_runtime_state` (3.6+): a thread blocked in a futex inside
    // it is waiting for the GIL. 2.7 has a semaphore behind a pointer.
    Offset runtime_gil = kAbsent;            // 3.7-3.11: _PyRuntime.ceval.gil (the struct itself)
    Offset gil_struct_size = 208;            // sizeof(struct _gil_runtime_state), glibc x86-64
    GcModel gc_model = GcModel::StaticSymbol;
    Offset gc_collecting = kAbsent;          // int collecting: in _PyRuntime (3.7, 3.8) or the interpreter (3.9+)

    // Locals (frame_locals.cpp).
    Offset frame_localsplus = kAbsent;       // <= 3.10: PyFrameObject.f_localsplus
    Offset iframe_localsplus = kAbsent;      // 3.11+: _PyInterpreterFrame.localsplus
    bool locals_are_tagged = false;          // 3.14+: _PyStackRef, clear low 2 bits
    Offset code_argcount = kAbsent;          // int
    Offset code_posonlyargcount = kAbsent;   // int, 3.8+
    Offset code_kwonlyargcount = kAbsent;    // int, 3.x
    Offset code_flags = kAbsent;             // int
    Offset code_nlocals = kAbsent;           // int, <= 3.10
    Offset code_varnames = kAbsent;          // tuple, <= 3.10
    Offset code_cellvars = kAbsent;          // tuple, <= 3.10
    Offset code_freevars = kAbsent;          // tuple, <= 3.10
    Offset code_localsplusnames = kAbsent;   // tuple, 3.11+
    Offset code_localspluskinds = kAbsent;   // bytes, 3.11+
    Offset tuple_items = 24;                 // PyTupleObject.ob_item (3.14+: 32, after ob_hash)
    Offset type_name = 24;                   // PyTypeObject.tp_name (char*)
    Offset float_value = 16;                 // PyFloatObject.ob_fval
    Offset cell_ref = 16;                    // PyCellObject.ob_ref
    Offset py2_unicode_length = 16;          // 2.7 PyUnicodeObject.length
    Offset py2_unicode_data = 24;            //   .str (Py_UNICODE*, UCS-4 here)

    // Bytes of a thread state / code object to read so every field above is covered.
    std::size_t thread_state_span() const;
    std::size_t code_object_span() const;
};

// The built-in table for `version`, or nullopt when it is not supported.
std::optional<Layout> layout_for(const PythonVersion& version);

// "2.7, 3.6–3.15": for messages.
std::string supported_versions_text();

}  // namespace profiling::attach
