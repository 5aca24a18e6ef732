// profiling._tracer: the deterministic tracing profiler, in process.
//
// Builds for Python 2.7 and 3.6+ (the 2.7 differences, in PY_MAJOR_VERSION < 3
// blocks: init_tracer instead of PyInit__tracer, str (bytes) names, ints).
//
// Events: sys.monitoring (PEP 669) on 3.12+, PyEval_SetProfile before. Each
// thread builds its own call tree (one node per call path) holding CALLS and
// OWN nanoseconds; DEEP is computed when the profile is taken (a node's OWN
// plus its children's DEEP), so OWN + children = DEEP holds exactly.
//
// The timer reads the thread's CPU clock once per event (see _timer.hpp); the
// interval since the previous event of the thread is charged to the node on
// top of the thread's stack. With the greenlet timer each greenlet has its
// own stack: greenlet.settrace tells us about switches, and the switched-out
// greenlet's frames are parked until it runs again, so they are not charged
// for the other greenlets' work.
//
// Per event the work is one clock read (rdtsc on the hybrid clock: most of
// the tracer's own cost), a thread-local load, a check of the parent's
// last-entered child (else a hash lookup by (parent, key)) and a push or pop;
// nothing is allocated unless a new call path appears.
//
// The module's data flow: events -> per-thread trees (here) -> snapshot() ->
// profiling::Profile -> .prf (encode_profile) / collapsed stacks, the code the
// `profiling` command uses.
#define PY_SSIZE_T_CLEAN
// 2.7's headers declare `register` parameters, which C++17 dropped.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wregister"
#include <Python.h>
#include <frameobject.h>
#if PY_VERSION_HEX < 0x03070000
#include <pythread.h>   // (in Python.h from 3.7)
#endif
#pragma GCC diagnostic pop

#include "_timer.hpp"
#include "profiling/errors.hpp"
#include "profiling/profile.hpp"
#include "src/format/collapsed_stacks.hpp"
#include "src/format/profile_file.hpp"

#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <sys/syscall.h>
#include <unistd.h>
#include <unordered_map>
#include <vector>

namespace {

using profiling::tracer::ThreadCpuClock;

enum class Kind : std::uint8_t { Root, Python, C };
enum class TimerMode { Thread, Greenlet, Wall };

// 32 bytes; what a node's key is (its Kind) is kept apart, in ThreadData::kinds,
// as only taking the profile needs it.
struct Node {
    const void* key = nullptr;     // PyCodeObject* or PyMethodDef*
    std::uint32_t parent = 0;
    std::uint32_t last_child = 0;  // the child entered last from here: checked before the hash table
    std::uint64_t calls = 0;
    std::uint64_t own = 0;
};

// (parent, key) -> child, open addressing with linear probing: finding a child
// costs the same whatever the parent's fan-out. Slots with child 0 are empty
// (the root is never a child).
class ChildTable {
public:
    std::uint32_t find(std::uint32_t parent, const void* key) const {
        if (slots_.empty()) return 0;
        for (std::size_t i = hash(parent, key) & mask_;; i = (i + 1) & mask_) {
            const Slot& slot = slots_[i];
            if (slot.child == 0) return 0;
            if (slot.key == key && slot.parent == parent) return slot.child;
        }
    }

    void insert(std::uint32_t parent, const void* key, std::uint32_t child) {
        if ((used_ + 1) * 2 > slots_.size()) grow();
        place(Slot{key, parent, child});
        ++used_;
    }

    void clear() {
        slots_.clear();
        mask_ = 0;
        used_ = 0;
    }

private:
    struct Slot {
        const void* key;
        std::uint32_t parent;
        std::uint32_t child;
    };

    static std::size_t hash(std::uint32_t parent, const void* key) {
        std::uint64_t h = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(key)) ^
                          (static_cast<std::uint64_t>(parent) << 32 | parent);
        h *= 0x9E3779B97F4A7C15ull;
        return static_cast<std::size_t>(h >> 29);
    }

    void place(const Slot& slot) {
        std::size_t i = hash(slot.parent, slot.key) & mask_;
        while (slots_[i].child != 0) i = (i + 1) & mask_;
        slots_[i] = slot;
    }

    void grow() {
        std::vector<Slot> old = std::move(slots_);
        slots_.assign(old.empty() ? 256 : old.size() * 2, Slot{nullptr, 0, 0});
        mask_ = slots_.size() - 1;
        for (const Slot& slot : old) {
            if (slot.child != 0) place(slot);
        }
    }

    std::vector<Slot> slots_;
    std::size_t mask_ = 0;
    std::size_t used_ = 0;
};

struct ThreadData {
    // Hot: read on every event.
    std::uint64_t generation = 0;
    bool excluded = false;          // exclude_current_thread(): its events are ignored
    std::uint32_t top = 0;          // the node on top of the stack; 0 (the root) when it is empty
    std::uint64_t last = 0;         // the clock at the previous event
    std::vector<Node> nodes;
    std::vector<std::uint32_t> stack;
    // The bottom `seeded` entries of `stack` are frames that were already
    // running when tracing started (see seed_stack); seed_codes[i] is the code
    // of stack[i]'s frame, so their returns can be matched (leave_seeded).
    std::uint32_t seeded = 0;
    std::vector<Kind> kinds;        // per node
    ThreadCpuClock clock;
    ChildTable children;
    // Cold.
    std::uint64_t thread_id = 0;
    long native_id = 0;
    std::string name;               // threading's name when first seen ("" if unknown)
    std::uint8_t naming_tries = 0;  // new call paths left to look for the name at
    struct Parked {
        std::vector<std::uint32_t> stack;
        bool armed = false;   // the launcher's greenlet (the others' roots are theirs)
    };
    std::unordered_map<PyObject*, Parked> parked;   // greenlet -> its stack
    std::vector<const void*> seed_codes;
    // The thread runs the launcher's program (start()'s `base` frame is on its
    // stack): calls made at the root are ignored, except the program's module.
    bool armed = false;
};

struct CFunctionName {
    std::string function;
    std::string qualname;
};

struct State {
    bool active = false;
    // Bumped by every start() and clear(): each thread's first event after
    // either re-attaches it (attach_thread), which seeds its stack.
    std::uint64_t generation = 1;
    // The generation of the last clear(): per-thread data of an older
    // generation has been freed.
    std::uint64_t data_generation = 1;
    PyObject* base = nullptr;       // start(base=FRAME): the launcher's frame (strong reference while active)
    std::string own_file;           // start(own_file=...): frames of this file are the profiler's own
    TimerMode mode = TimerMode::Thread;
    profiling::tracer::ClockKind clock_kind = profiling::tracer::ClockKind::Auto;
    std::vector<std::unique_ptr<ThreadData>> threads;
    std::vector<PyObject*> held_codes;   // strong references: code objects that are node keys
    std::unordered_map<const void*, CFunctionName> c_names;
};

State g;
// initial-exec: a plain %fs-relative load instead of a __tls_get_addr call per event (the
// module is dlopen()ed, so this uses glibc's static TLS surplus: 8 bytes).
__attribute__((tls_model("initial-exec"))) thread_local ThreadData* tls = nullptr;
// The generation `tls` belongs to. Compared before `tls` is touched: clear()
// frees every thread's data while other threads still point at theirs, so
// a stale pointer must never be dereferenced (its memory may hold another
// thread's data by then).
__attribute__((tls_model("initial-exec"))) thread_local std::uint64_t tls_generation = 0;
// exclude_current_thread() was called here: kept across clear() and start(),
// for the rest of the thread's life.
thread_local bool tls_excluded = false;

// The text of a name: str (bytes on 2.7, which may also hand over unicode) or
// unicode, as UTF-8; false (no error set) for anything else.
bool text_of(PyObject* object, std::string& out) {
    if (object == nullptr) return false;
#if PY_MAJOR_VERSION < 3
    if (PyString_Check(object)) {
        out.assign(PyString_AS_STRING(object), static_cast<std::size_t>(PyString_GET_SIZE(object)));
        return true;
    }
    if (PyUnicode_Check(object)) {
        PyObject* bytes = PyUnicode_AsUTF8String(object);
        if (bytes == nullptr) {
            PyErr_Clear();
            return false;
        }
        out.assign(PyString_AS_STRING(bytes), static_cast<std::size_t>(PyString_GET_SIZE(bytes)));
        Py_DECREF(bytes);
        return true;
    }
    return false;
#else
    if (!PyUnicode_Check(object)) return false;
    const char* s = PyUnicode_AsUTF8(object);
    if (s == nullptr) {
        PyErr_Clear();
        return false;
    }
    out = s;
    return true;
#endif
}

// A str of this version (bytes on 2.7) from UTF-8.
inline PyObject* str_from(const char* s) {
#if PY_MAJOR_VERSION < 3
    return PyString_FromString(s);
#else
    return PyUnicode_FromString(s);
#endif
}

[[gnu::always_inline]] inline std::uint64_t now(ThreadData* t) {
    if (g.mode == TimerMode::Wall) [[unlikely]] return profiling::tracer::g_wall_clock.now();
    return t->clock.now();
}

// threading.current_thread().name of the calling thread, "" if threading
// is not imported or the thread is not one of its own. Runs Python code, so
// only once per thread; the interpreter does not report events from inside
// a profile or monitoring callback, so this is not traced.
std::string current_thread_name() {
    std::string name;
    PyObject* type = nullptr;
    PyObject* value = nullptr;
    PyObject* traceback = nullptr;
    PyErr_Fetch(&type, &value, &traceback);   // an exception may be in flight (PY_UNWIND)
    PyObject* modules = PyImport_GetModuleDict();
    PyObject* threading = modules ? PyDict_GetItemString(modules, "threading") : nullptr;   // borrowed
    if (threading) {
        // _active holds started threads only: a thread not made by threading has no name.
        PyObject* active = PyObject_GetAttrString(threading, "_active");
        PyObject* key = PyLong_FromUnsignedLong(PyThread_get_thread_ident());
        PyObject* thread = active && key && PyDict_Check(active) ? PyDict_GetItem(active, key) : nullptr;
        PyObject* text = thread ? PyObject_GetAttrString(thread, "name") : nullptr;
        if (!text_of(text, name)) name.clear();
        Py_XDECREF(text);
        Py_XDECREF(key);
        Py_XDECREF(active);
    }
    PyErr_Clear();
    PyErr_Restore(type, value, traceback);
    return name;
}

// ---------------------------------------------------------------- frames (seeding, the program's root)

// A frame's code (borrowed: the frame keeps it alive).
PyCodeObject* frame_code(PyFrameObject* frame) {
#if PY_VERSION_HEX >= 0x03090000
    PyCodeObject* code = PyFrame_GetCode(frame);   // new reference
    Py_DECREF(code);
    return code;
#else
    return frame->f_code;
#endif
}

// The frame that called `frame` (a new reference), or null.
PyFrameObject* frame_back(PyFrameObject* frame) {
#if PY_VERSION_HEX >= 0x03090000
    return PyFrame_GetBack(frame);
#else
    Py_XINCREF(frame->f_back);
    return frame->f_back;
#endif
}

// globals['__name__'] == '__main__' for the frame's globals.
bool runs_as_main(PyFrameObject* frame) {
#if PY_VERSION_HEX >= 0x030B0000
    PyObject* globals = PyFrame_GetGlobals(frame);   // new reference
#else
    PyObject* globals = frame->f_globals;
    Py_XINCREF(globals);
#endif
    std::string name;
    bool main = globals && PyDict_Check(globals) && text_of(PyDict_GetItemString(globals, "__name__"), name) &&
                name == "__main__";
    Py_XDECREF(globals);
    PyErr_Clear();
    return main;
}

// The launched program's outermost frame: a module's code run as __main__
// (the script exec'ed by the launcher, runpy's module for -m, timeit's statement).
bool is_program_root(PyFrameObject* frame) {
    std::string name;
    return text_of(frame_code(frame)->co_name, name) && name == "<module>" && runs_as_main(frame);
}

// A frame of the profiler's own Python code (TracingProfiler.start, __enter__...).
bool is_own_code(PyCodeObject* code) {
    std::string file;
    return !g.own_file.empty() && text_of(code->co_filename, file) && file == g.own_file;
}

void remember_c_name(const void* key, PyObject* callable);

[[gnu::noinline]] std::uint32_t new_child(ThreadData* t, std::uint32_t parent, const void* key, Kind kind,
                                          PyObject* object) {
    if (t->naming_tries) [[unlikely]] {
        --t->naming_tries;
        t->name = current_thread_name();
        if (!t->name.empty()) t->naming_tries = 0;
        t->last = now(t);   // the lookup's time is the profiler's, not the program's
    }
    std::uint32_t child = t->children.find(parent, key);
    if (child != 0) return child;
    child = static_cast<std::uint32_t>(t->nodes.size());
    Node node;
    node.key = key;
    node.parent = parent;
    t->nodes.push_back(node);
    t->kinds.push_back(kind);
    t->children.insert(parent, key, child);
    if (kind == Kind::Python) {
        Py_INCREF(object);
        g.held_codes.push_back(object);
    } else {
        remember_c_name(key, object);
    }
    return child;
}

// Puts the frames the thread is running now on its (empty) stack, outermost
// first, so their returns close nodes and new calls nest under them: a
// tracer started inside a call keeps the program's real outer frames as its
// roots. Seeded frames get no call (they were entered before tracing) and
// are charged from now on. `entering` (a frame or a code object) is the
// frame the current event enters, pushed by the event itself.
//  - The profiler's own frames (own_file: TracingProfiler.start, __enter__)
//    get an entry repeating the node below them, so their returns pop
//    without closing a frame of the program.
//  - With start(base=FRAME) (the launcher), the base and every frame below
//    it are left out, and so are the frames above it up to the program's
//    module (runpy's, for -m); the thread is `armed`: until the program's
//    module is entered, and again after it returned, calls at the root are
//    not traced (exec, runpy, the launcher's waiting for threads).
void seed_stack(ThreadData* t, const void* entering) {
    std::vector<PyFrameObject*> chain;   // new references, innermost first
    for (PyFrameObject* frame = PyEval_GetFrame(); frame != nullptr;) {
        if (chain.empty()) Py_INCREF(frame);
        chain.push_back(frame);
        frame = frame_back(frame);
    }
    std::vector<PyFrameObject*> outer_first(chain.rbegin(), chain.rend());
    std::size_t end = outer_first.size();   // outer_first[begin, end) are seeded
    if (entering && end && (chain[0] == entering || frame_code(chain[0]) == entering)) --end;
    std::size_t begin = 0;
    if (g.base) {
        for (std::size_t i = 0; i < end; ++i) {
            if (reinterpret_cast<PyObject*>(outer_first[i]) != g.base) continue;
            t->armed = true;
            begin = i + 1;
            while (begin < end && !is_program_root(outer_first[begin])) ++begin;
            break;
        }
    }
    for (std::size_t i = begin; i < end; ++i) {
        PyCodeObject* code = frame_code(outer_first[i]);
        std::uint32_t node = t->top;
        if (!is_own_code(code)) {
            node = new_child(t, t->top, code, Kind::Python, reinterpret_cast<PyObject*>(code));
        }
        t->stack.push_back(node);
        t->seed_codes.push_back(code);
        t->top = node;
    }
    t->seeded = static_cast<std::uint32_t>(t->stack.size());
    for (PyFrameObject* frame : chain) Py_DECREF(frame);
    PyErr_Clear();
}

// The calling thread's data, attached to the current generation: made on the
// thread's first event, or (after a restart) the data it had, with its
// stack seeded from the frames it runs now.
[[gnu::noinline]] ThreadData* attach_thread(const void* entering) {
    ThreadData* data = tls;
    if (data == nullptr || tls_generation < g.data_generation) {   // none yet, or freed by clear()
        auto made = std::make_unique<ThreadData>();
        data = made.get();
        data->name = current_thread_name();
        // With sys.monitoring a new thread's first events come before threading
        // lists it: look again on its next new call paths (startup makes many).
        if (data->name.empty()) data->naming_tries = 64;
        data->excluded = tls_excluded;
        data->thread_id = PyThread_get_thread_ident();
        data->native_id = static_cast<long>(syscall(SYS_gettid));
        data->nodes.reserve(256);
        data->nodes.emplace_back();
        data->kinds.push_back(Kind::Root);
        data->stack.reserve(256);
        if (g.mode != TimerMode::Wall) data->clock.open(g.clock_kind);
        g.threads.push_back(std::move(made));
    }
    data->generation = g.generation;
    tls = data;
    tls_generation = g.generation;
    data->armed = false;
    if (g.active && !data->excluded && data->stack.empty()) seed_stack(data, entering);
    data->last = now(data);   // time before now is not the program's (stopped, or before the start)
    return data;
}

// `entering`: the frame (or code) the current event enters, if it enters one.
inline ThreadData* current(const void* entering = nullptr) {
    if (tls_generation != g.generation) [[unlikely]] return attach_thread(entering);
    return tls;
}

// The calling thread's data, or null if its events are to be ignored.
inline ThreadData* traced(const void* entering = nullptr) {
    ThreadData* t = current(entering);
    return t->excluded ? nullptr : t;
}

inline void sync_top(ThreadData* t) { t->top = t->stack.empty() ? 0 : t->stack.back(); }

// Charges the time since the last event to the top of the stack (the root,
// whose OWN is never reported, when the stack is empty).
[[gnu::always_inline]] inline std::uint64_t charge(ThreadData* t) {
    std::uint64_t at = now(t);
    t->nodes[t->top].own += at - t->last;
    t->last = at;
    return at;
}

// Whether a call at the root of an armed thread is traced: only the program's module.
[[gnu::noinline]] bool enters_program(Kind kind, const void* key) {
    if (kind != Kind::Python) return false;
    PyFrameObject* frame = PyEval_GetFrame();   // the frame being entered (borrowed)
    return frame != nullptr && frame_code(frame) == key && is_program_root(frame);
}

[[gnu::always_inline]] inline void enter(ThreadData* t, const void* key, Kind kind, PyObject* object) {
    std::uint64_t at = now(t);
    std::uint32_t parent = t->top;
    Node* nodes = t->nodes.data();
    nodes[parent].own += at - t->last;
    t->last = at;
    std::uint32_t child = nodes[parent].last_child;   // 0 (the root, key null) if none
    if (nodes[child].key != key) [[unlikely]] {
        // (An armed thread's root never gets other children, so its calls always come here.)
        if (t->armed && t->stack.empty() && !enters_program(kind, key)) return;
        child = new_child(t, parent, key, kind, object);
        nodes = t->nodes.data();
        nodes[parent].last_child = child;
    }
    nodes[child].calls += 1;
    t->stack.push_back(child);
    t->top = child;
}

// A return at the seeded base (or with an empty stack): pops down to the
// seeded frame of this code; a frame that is not on the stack (it ran below
// the seeded frames, or was left out) changes nothing.
[[gnu::noinline]] void leave_seeded(ThreadData* t, const void* code) {
    charge(t);
    for (std::size_t i = t->seeded; i-- > 0;) {
        if (t->seed_codes[i] != code) continue;
        t->stack.resize(i);
        t->seed_codes.resize(i);
        t->seeded = static_cast<std::uint32_t>(i);
        sync_top(t);
        return;
    }
}

// A Python frame returns (or yields, or unwinds). `code_of` gives its code,
// needed only at the seeded base.
template <typename CodeOf>
[[gnu::always_inline]] inline void leave_python(ThreadData* t, CodeOf code_of) {
    if (t->stack.size() <= t->seeded) [[unlikely]] {
        leave_seeded(t, code_of());
        return;
    }
    charge(t);
    t->stack.pop_back();
    sync_top(t);
}

// A C function returns. Seeded entries are all Python frames: at the seeded
// base this is the return of a call made before tracing started.
[[gnu::always_inline]] inline void leave_c(ThreadData* t) {
    if (t->stack.size() <= t->seeded) [[unlikely]] return;
    charge(t);
    t->stack.pop_back();
    sync_top(t);
}

// ---------------------------------------------------------------- C functions

// The key of a C function call (its PyMethodDef), or null for other callables.
// The common types are told apart by pointer before PyCFunction_Check, whose
// subtype check walks the MRO (CALL fires for Python callees too on 3.12+).
inline const void* c_key(PyObject* callable) {
    PyTypeObject* type = Py_TYPE(callable);
    if (type == &PyFunction_Type || type == &PyMethod_Type) return nullptr;
#if PY_MAJOR_VERSION < 3
    // 2.7 reports C calls of builtin functions and bound methods only (and
    // does not export the method descriptor type).
    if (PyCFunction_Check(callable)) return reinterpret_cast<PyCFunctionObject*>(callable)->m_ml;
    return nullptr;
#else
#if PY_VERSION_HEX >= 0x03090000
    if (type == &PyCFunction_Type || type == &PyCMethod_Type || PyCFunction_Check(callable)) {
#else
    if (PyCFunction_Check(callable)) {
#endif
        return reinterpret_cast<PyCFunctionObject*>(callable)->m_ml;
    }
    if (type == &PyMethodDescr_Type) return reinterpret_cast<PyMethodDescrObject*>(callable)->d_method;
    return nullptr;
#endif
}

// Names a C function the way cProfile does (on 2.7 as 2.7's does: <len>,
// <time.sleep>, where module functions have no self).
void remember_c_name(const void* key, PyObject* callable) {
    if (g.c_names.count(key)) return;
    CFunctionName name;
    if (PyCFunction_Check(callable)) {
        auto* fn = reinterpret_cast<PyCFunctionObject*>(callable);
        name.function = fn->m_ml->ml_name;
        PyObject* self = fn->m_self;
#if PY_MAJOR_VERSION < 3
        if (self == nullptr || PyModule_Check(self)) {
            std::string module;
            if (text_of(fn->m_module, module) && module != "__builtin__") {
                name.qualname = "<" + module + "." + name.function + ">";
            } else {
                name.qualname = "<" + name.function + ">";
            }
        } else {
            name.qualname = "<method '" + name.function + "' of '" + Py_TYPE(self)->tp_name + "' objects>";
        }
        g.c_names.emplace(key, std::move(name));
        return;
#else
        if (self == nullptr || PyModule_Check(self)) {
            PyObject* module = fn->m_module;
            if (module != nullptr && PyUnicode_Check(module)) {
                const char* m = PyUnicode_AsUTF8(module);
                if (m == nullptr) PyErr_Clear();
                name.qualname = std::string("<built-in method ") + (m ? m : "?") + "." + name.function + ">";
            } else {
                name.qualname = "<built-in method " + name.function + ">";
            }
        } else {
            name.qualname = "<method '" + name.function + "' of '" + Py_TYPE(self)->tp_name + "' objects>";
        }
#endif
    } else {
        auto* descr = reinterpret_cast<PyMethodDescrObject*>(callable);
        name.function = descr->d_method->ml_name;
#if PY_MAJOR_VERSION < 3
        PyTypeObject* owner = descr->d_type;
#else
        PyTypeObject* owner = descr->d_common.d_type;
#endif
        name.qualname = "<method '" + name.function + "' of '" + owner->tp_name + "' objects>";
    }
    g.c_names.emplace(key, std::move(name));
}

// ---------------------------------------------------------------- events before 3.12: PyEval_SetProfile

#if PY_VERSION_HEX < 0x030C0000

int profile_func(PyObject*, PyFrameObject* frame, int what, PyObject* arg) {
    if (!g.active) [[unlikely]] return 0;
    ThreadData* t = current(what == PyTrace_CALL ? frame : nullptr);
    if (t->excluded) [[unlikely]] {
        PyEval_SetProfile(nullptr, nullptr);   // this thread only; start() may have put it back
        return 0;
    }
    switch (what) {
    case PyTrace_CALL: {
        PyCodeObject* code = frame_code(frame);
        enter(t, code, Kind::Python, reinterpret_cast<PyObject*>(code));
        break;
    }
    case PyTrace_RETURN:
        leave_python(t, [frame] { return frame_code(frame); });
        break;
    case PyTrace_C_CALL:
        if (const void* key = c_key(arg)) enter(t, key, Kind::C, arg);
        break;
    case PyTrace_C_RETURN:
    case PyTrace_C_EXCEPTION:
        if (c_key(arg)) leave_c(t);
        break;
    default:
        break;
    }
    return 0;
}

// threading.setprofile() hook: the first event of a new thread installs the C
// profile function for that thread and is handled as its first call.
PyObject* thread_hook(PyObject*, PyObject* tuple) {
    if (!PyTuple_Check(tuple) || PyTuple_GET_SIZE(tuple) != 3) {
        PyErr_SetString(PyExc_TypeError, "_thread_hook(frame, event, arg)");
        return nullptr;
    }
    PyObject* args[3] = {PyTuple_GET_ITEM(tuple, 0), PyTuple_GET_ITEM(tuple, 1), PyTuple_GET_ITEM(tuple, 2)};
    std::string event;
    if (!text_of(args[1], event)) {
        PyErr_SetString(PyExc_TypeError, "_thread_hook: the event is not a str");
        return nullptr;
    }
    const bool call = event == "call" && PyFrame_Check(args[0]);
    ThreadData* t = g.active ? current(call ? args[0] : nullptr) : nullptr;
    if (t && t->excluded) {
        PyEval_SetProfile(nullptr, nullptr);
        Py_RETURN_NONE;
    }
    PyEval_SetProfile(profile_func, nullptr);
    if (t) {
        if (call) {
            PyCodeObject* code = frame_code(reinterpret_cast<PyFrameObject*>(args[0]));
            enter(t, code, Kind::Python, reinterpret_cast<PyObject*>(code));
        }
    }
    Py_RETURN_NONE;
}
#endif

// ---------------------------------------------------------------- events on 3.12+: sys.monitoring callbacks

#if PY_VERSION_HEX >= 0x030C0000
// The callbacks are objects of a small callable type with their own vectorcall
// function, called by sys.monitoring directly (a builtin function would go
// through cfunction_vectorcall_FASTCALL's recursion check first).
struct Callback {
    PyObject_HEAD
    vectorcallfunc vectorcall;
};

PyObject* mon_enter(PyObject*, PyObject* const* args, std::size_t nargsf, PyObject*) {   // PY_START, PY_RESUME, PY_THROW
    if (g.active && PyVectorcall_NARGS(nargsf) >= 1) [[likely]] {
        if (ThreadData* t = traced(args[0])) enter(t, args[0], Kind::Python, args[0]);
    }
    Py_RETURN_NONE;
}
PyObject* mon_leave(PyObject*, PyObject* const* args, std::size_t nargsf, PyObject*) {   // PY_RETURN, PY_YIELD, PY_UNWIND
    if (g.active && PyVectorcall_NARGS(nargsf) >= 1) [[likely]] {
        if (ThreadData* t = traced()) leave_python(t, [args] { return args[0]; });
    }
    Py_RETURN_NONE;
}
PyObject* mon_call(PyObject*, PyObject* const* args, std::size_t nargsf, PyObject*) {   // CALL
    if (g.active && PyVectorcall_NARGS(nargsf) >= 3) [[likely]] {
        if (const void* key = c_key(args[2])) {
            if (ThreadData* t = traced()) enter(t, key, Kind::C, args[2]);
        }
    }
    Py_RETURN_NONE;
}
PyObject* mon_c_leave(PyObject*, PyObject* const* args, std::size_t nargsf, PyObject*) {   // C_RETURN, C_RAISE
    if (g.active && PyVectorcall_NARGS(nargsf) >= 3 && c_key(args[2])) [[likely]] {
        if (ThreadData* t = traced()) leave_c(t);
    }
    Py_RETURN_NONE;
}

PyTypeObject callback_type = {PyVarObject_HEAD_INIT(nullptr, 0)};

bool add_callback(PyObject* module, const char* name, vectorcallfunc fn) {
    auto* callback = PyObject_New(Callback, &callback_type);
    if (!callback) return false;
    callback->vectorcall = fn;
    if (PyModule_AddObject(module, name, reinterpret_cast<PyObject*>(callback)) < 0) {
        Py_DECREF(callback);
        return false;
    }
    return true;
}

bool add_callbacks(PyObject* module) {
    callback_type.tp_name = "profiling._tracer.Callback";
    callback_type.tp_basicsize = sizeof(Callback);
    callback_type.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL;
    callback_type.tp_vectorcall_offset = offsetof(Callback, vectorcall);
    callback_type.tp_call = PyVectorcall_Call;
    callback_type.tp_doc = "A sys.monitoring callback of the tracer.";
    if (PyType_Ready(&callback_type) < 0) return false;
    return add_callback(module, "_mon_enter", mon_enter) && add_callback(module, "_mon_leave", mon_leave) &&
           add_callback(module, "_mon_call", mon_call) && add_callback(module, "_mon_c_leave", mon_c_leave);
}
#endif

// ---------------------------------------------------------------- greenlets

// greenlet.settrace callback: (event, (origin, target)).
PyObject* greenlet_switch(PyObject*, PyObject* tuple) {
    if (!PyTuple_Check(tuple) || PyTuple_GET_SIZE(tuple) != 2) Py_RETURN_NONE;
    PyObject* args[2] = {PyTuple_GET_ITEM(tuple, 0), PyTuple_GET_ITEM(tuple, 1)};
    if (!g.active || !PyTuple_Check(args[1]) || PyTuple_GET_SIZE(args[1]) != 2) Py_RETURN_NONE;
    PyObject* origin = PyTuple_GET_ITEM(args[1], 0);
    PyObject* target = PyTuple_GET_ITEM(args[1], 1);
    ThreadData* t = traced();
    if (!t) Py_RETURN_NONE;
    charge(t);
    if (!t->stack.empty() || t->armed) t->parked[origin] = ThreadData::Parked{std::move(t->stack), t->armed};
    t->stack.clear();
    t->armed = false;
    // Seeded frames stay on the parked stack as ordinary entries: their
    // returns pop them; one that returns past them changes nothing.
    t->seeded = 0;
    t->seed_codes.clear();
    if (auto it = t->parked.find(target); it != t->parked.end()) {
        t->stack = std::move(it->second.stack);
        t->armed = it->second.armed;
        t->parked.erase(it);
    }
    sync_top(t);
    Py_RETURN_NONE;
}

// ---------------------------------------------------------------- control

void clear_state() {
    for (auto& t : g.threads) t->clock.close();
    g.threads.clear();
    for (PyObject* code : g.held_codes) Py_DECREF(code);
    g.held_codes.clear();
    g.c_names.clear();
    g.generation += 1;
    g.data_generation = g.generation;
    tls = nullptr;
    tls_generation = 0;
}

// Closes every thread's stack (stop(), or start() failing half-way).
void close_stacks() {
    for (auto& thread : g.threads) {
        thread->stack.clear();
        thread->parked.clear();
        thread->seed_codes.clear();
        thread->seeded = 0;
        thread->armed = false;
        thread->top = 0;
    }
    Py_CLEAR(g.base);
}


#if PY_VERSION_HEX < 0x030C0000
// Installs (or, with nullptr, removes) the C profile function on every thread
// of this interpreter, not only the calling one: threads already running when
// start() is called are traced from their next event on (threading.setprofile
// covers threads started later). Called with the GIL held, so no other
// thread is between two bytecodes of its own evaluation loop meanwhile.
bool set_profile_on_every_thread(Py_tracefunc func) {
    for (PyThreadState* ts = PyInterpreterState_ThreadHead(PyThreadState_Get()->interp); ts != nullptr;
         ts = PyThreadState_Next(ts)) {
#if PY_VERSION_HEX >= 0x03090000
        if (_PyEval_SetProfile(ts, func, nullptr) < 0) return false;
#else
        // Before 3.9 there is no per-thread-state setter; this is what
        // PyEval_SetProfile does to its own thread state (2.7-3.8), the
        // fields being public there. No profile object is ever passed, so
        // only a previous owner's object is released.
        PyObject* previous = ts->c_profileobj;
        ts->c_profilefunc = nullptr;
        ts->c_profileobj = nullptr;
        ts->use_tracing = ts->c_tracefunc != nullptr;
        Py_XDECREF(previous);
        ts->c_profilefunc = func;
        ts->use_tracing = func != nullptr || ts->c_tracefunc != nullptr;
#endif
    }
    return true;
}
#endif

PyObject* py_start(PyObject*, PyObject* args, PyObject* kwargs) {
    const char* timer = "thread";
    const char* clock = "auto";
    PyObject* base = Py_None;
    PyObject* own_file = Py_None;
    static const char* keywords[] = {"timer", "clock", "base", "own_file", nullptr};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|ssOO", const_cast<char**>(keywords), &timer, &clock, &base,
                                     &own_file)) {
        return nullptr;
    }
    if (base != Py_None && !PyFrame_Check(base)) {
        PyErr_SetString(PyExc_TypeError, "base must be a frame or None");
        return nullptr;
    }
    std::string own;
    if (own_file != Py_None && !text_of(own_file, own)) {
        PyErr_SetString(PyExc_TypeError, "own_file must be a str or None");
        return nullptr;
    }
    using profiling::tracer::ClockKind;
    std::string clock_name = clock;
    ClockKind kind;
    if (clock_name == "auto") {
        kind = ClockKind::Auto;
    } else if (clock_name == "hybrid") {
        kind = ClockKind::Hybrid;
    } else if (clock_name == "syscall") {
        kind = ClockKind::Syscall;
    } else {
        PyErr_Format(PyExc_ValueError, "unknown clock '%s': use 'auto', 'hybrid' or 'syscall'", clock);
        return nullptr;
    }
    std::string name = timer;
    TimerMode mode;
    if (name == "thread") {
        mode = TimerMode::Thread;
    } else if (name == "greenlet") {
        mode = TimerMode::Greenlet;
    } else if (name == "wall") {
        mode = TimerMode::Wall;
    } else {
        PyErr_Format(PyExc_ValueError, "unknown timer '%s': use 'thread', 'greenlet' or 'wall'", timer);
        return nullptr;
    }
    if (g.active) {
        PyErr_SetString(PyExc_RuntimeError, "a TracingProfiler is already running in this process");
        return nullptr;
    }
    if (mode != g.mode || kind != g.clock_kind) clear_state();   // one timer per profile
    g.mode = mode;
    g.clock_kind = kind;
    profiling::tracer::calibrate_wall_clock();
    g.active = true;
    g.own_file = own;
    if (base != Py_None) {
        Py_INCREF(base);
        g.base = base;
    }
    g.generation += 1;   // every thread's first event from now on seeds its stack
    current();           // this thread's, now (its caller frames, not a later event's)
#if PY_VERSION_HEX < 0x030C0000
    if (!set_profile_on_every_thread(profile_func)) return nullptr;
#endif
    Py_RETURN_NONE;
}

PyObject* py_stop(PyObject*, PyObject*) {
    if (!g.active) Py_RETURN_NONE;
#if PY_VERSION_HEX < 0x030C0000
    if (!set_profile_on_every_thread(nullptr)) return nullptr;
#endif
    // Frames still open: charge this thread's up to now (if it was seen since
    // the start: attaching it now would seed frames never charged); every
    // stack is closed.
    if (tls_generation == g.generation && tls != nullptr) charge(tls);
    close_stacks();
    g.active = false;
    Py_RETURN_NONE;
}

PyObject* py_clear(PyObject*, PyObject*) {
    if (g.active) {
        PyErr_SetString(PyExc_RuntimeError, "stop the profiler before clearing it");
        return nullptr;
    }
    clear_state();
    Py_RETURN_NONE;
}

// exclude_current_thread(): the calling thread's events are ignored from now
// on, for the rest of its life (across clear() and restarts); what it recorded
// so far is dropped, so it is left out of the profile.
PyObject* py_exclude_current_thread(PyObject*, PyObject*) {
    tls_excluded = true;
    ThreadData* t = current();
    t->excluded = true;
    t->nodes.resize(1);
    t->nodes[0] = Node{};
    t->kinds.resize(1);
    t->children.clear();
    t->stack.clear();
    t->parked.clear();
    t->seed_codes.clear();
    t->seeded = 0;
    t->top = 0;
#if PY_VERSION_HEX < 0x030C0000
    if (g.active) PyEval_SetProfile(nullptr, nullptr);   // this thread only
#endif
    Py_RETURN_NONE;
}

PyObject* py_clock_kind(PyObject*, PyObject*) {
    ThreadCpuClock clock;
    clock.open(profiling::tracer::ClockKind::Auto);
    PyObject* kind = str_from(clock.kind());
    clock.close();
    return kind;
}

// The calls, OWN and DEEP per node as a profiling::Profile.
// `names`: {thread_id: name}.
profiling::Profile snapshot(PyObject* names) {
    profiling::Profile profile;
    profile.info.kind = "tracing";
    profile.info.mode = g.mode == TimerMode::Wall ? "wall" : g.mode == TimerMode::Greenlet ? "greenlet" : "thread";
    profile.info.pid = static_cast<int>(getpid());
    // The running interpreter's version ("3.11.2 (main, ...)"), not the
    // headers': one build serves every interpreter of an ABI.
    const std::string version = Py_GetVersion();
    profile.info.python_version = version.substr(0, version.find(' '));
    std::unordered_map<const void*, profiling::FrameId> frame_ids;
    auto frame_of = [&](const Node& node, Kind kind) -> profiling::FrameId {
        if (auto it = frame_ids.find(node.key); it != frame_ids.end()) return it->second;
        profiling::FrameInfo info;
        if (kind == Kind::Python) {
            auto* code = static_cast<PyCodeObject*>(const_cast<void*>(node.key));
            if (!text_of(code->co_name, info.function)) info.function = "?";
#if PY_VERSION_HEX >= 0x030B0000
            if (std::string qualname; text_of(code->co_qualname, qualname)) info.qualname = qualname;
#endif
            if (!text_of(code->co_filename, info.file)) info.file = "?";
            info.first_line = code->co_firstlineno;
            PyErr_Clear();
        } else {
            const CFunctionName& name = g.c_names.at(node.key);
            info.function = name.function;
            info.qualname = name.qualname;
            info.file = "~";
            info.first_line = 0;
        }
        profiling::FrameId id = profile.frames.intern(info);
        frame_ids.emplace(node.key, id);
        return id;
    };
    for (const auto& thread : g.threads) {
        if (thread->excluded || thread->nodes.size() <= 1) continue;
        profiling::ThreadProfile& out = profile.thread(thread->thread_id);
        out.native_id = static_cast<std::int32_t>(thread->native_id);
        if (!thread->name.empty()) out.name = thread->name;   // renamed later: `names` says so
        if (names && PyDict_Check(names)) {
            PyObject* key = PyLong_FromUnsignedLongLong(thread->thread_id);
            PyObject* name = key ? PyDict_GetItem(names, key) : nullptr;
            Py_XDECREF(key);
            if (std::string text; text_of(name, text)) out.name = text;
            PyErr_Clear();
        }
        std::vector<profiling::NodeId> mapped(thread->nodes.size(), profiling::CallTree::kRoot);
        for (std::size_t i = 1; i < thread->nodes.size(); ++i) {
            const Node& node = thread->nodes[i];
            profiling::NodeId id = out.tree.child(mapped[node.parent], frame_of(node, thread->kinds[i]));
            mapped[i] = id;
            out.tree.node(id).calls += node.calls;
            out.tree.node(id).own += node.own;
        }
    }
    // DEEP = OWN + children's DEEP; children come after their parents. Done
    // once per tree, after every thread went in (a thread id can be reused).
    for (profiling::ThreadProfile& out : profile.threads) {
        for (std::size_t i = out.tree.size(); i-- > 0;) {
            profiling::CallNode& node = out.tree.node(static_cast<profiling::NodeId>(i));
            node.deep += node.own;
            if (i != 0) out.tree.node(node.parent).deep += node.deep;
        }
    }
    return profile;
}

bool set_info(profiling::Profile& profile, PyObject* info) {
    if (info == nullptr || info == Py_None) return true;
    if (!PyDict_Check(info)) {
        PyErr_SetString(PyExc_TypeError, "info must be a dict");
        return false;
    }
    if (std::string command; text_of(PyDict_GetItemString(info, "command"), command)) {
        profile.info.command = command;
    }
    if (PyObject* v = PyDict_GetItemString(info, "duration_s"); v && PyFloat_Check(v)) {
        double d = PyFloat_AsDouble(v);
        if (d >= 0) profile.info.duration_s = d;
    }
    if (PyObject* v = PyDict_GetItemString(info, "started_unix_ms"); v && PyLong_Check(v)) {
        profile.info.started_unix_ms = PyLong_AsLongLong(v);
    }
#if PY_MAJOR_VERSION < 3
    else if (v && PyInt_Check(v)) {
        profile.info.started_unix_ms = PyInt_AS_LONG(v);
    }
#endif
    PyErr_Clear();
    return true;
}

// Runs `fn`, turning C++ exceptions into Python ones.
template <typename F>
PyObject* guarded(F&& fn) {
    try {
        return fn();
    } catch (const profiling::Error& e) {
        PyErr_SetString(PyExc_OSError, e.what());
    } catch (const std::exception& e) {
        PyErr_SetString(PyExc_RuntimeError, e.what());
    }
    return nullptr;
}

// dump(path, names, info): writes a .prf file.
PyObject* py_dump(PyObject*, PyObject* args) {
    const char* path;
    PyObject* names;
    PyObject* info = nullptr;
    if (!PyArg_ParseTuple(args, "sO|O", &path, &names, &info)) return nullptr;
    return guarded([&]() -> PyObject* {
        profiling::Profile profile = snapshot(names);
        if (!set_info(profile, info)) return nullptr;
        profiling::write_profile(profile, path);
        Py_RETURN_NONE;
    });
}

// dumps(names, info): the bytes dump() writes.
PyObject* py_dumps(PyObject*, PyObject* args) {
    PyObject* names;
    PyObject* info = nullptr;
    if (!PyArg_ParseTuple(args, "O|O", &names, &info)) return nullptr;
    return guarded([&]() -> PyObject* {
        profiling::Profile profile = snapshot(names);
        if (!set_info(profile, info)) return nullptr;
        std::string bytes = profiling::encode_profile(profile);
        return PyBytes_FromStringAndSize(bytes.data(), static_cast<Py_ssize_t>(bytes.size()));
    });
}

// save_flamegraph(path, names, per_thread): writes collapsed stacks weighted by OWN nanoseconds.
PyObject* py_save_flamegraph(PyObject*, PyObject* args) {
    const char* path;
    PyObject* names;
    int per_thread = 0;
#if PY_MAJOR_VERSION < 3
    if (!PyArg_ParseTuple(args, "sO|i", &path, &names, &per_thread)) return nullptr;   // no "p" before 3.3
#else
    if (!PyArg_ParseTuple(args, "sO|p", &path, &names, &per_thread)) return nullptr;
#endif
    return guarded([&]() -> PyObject* {
        profiling::Profile profile = snapshot(names);
        profiling::CollapsedOptions options;
        options.per_thread = per_thread != 0;
        profiling::write_collapsed_stacks(profile, path, options);
        Py_RETURN_NONE;
    });
}

// tree(names): [{"thread_id", "native_id", "name", "nodes": [(parent, function, qualname, file, line, calls,
// own_ns, deep_ns), ...]}], node 0 the root. For tests and Python-side views.
PyObject* py_tree(PyObject*, PyObject* args) {
    PyObject* names = Py_None;
    if (!PyArg_ParseTuple(args, "|O", &names)) return nullptr;
    return guarded([&]() -> PyObject* {
        profiling::Profile profile = snapshot(names);
        PyObject* result = PyList_New(0);
        if (!result) return nullptr;
        for (const auto& thread : profile.threads) {
            PyObject* nodes = PyList_New(0);
            for (std::size_t i = 0; nodes && i < thread.tree.size(); ++i) {
                const profiling::CallNode& node = thread.tree.node(static_cast<profiling::NodeId>(i));
                PyObject* item;
                if (i == 0) {
                    item = Py_BuildValue("(IOOOiKKK)", 0u, Py_None, Py_None, Py_None, 0, 0ull,
                                         static_cast<unsigned long long>(node.own),
                                         static_cast<unsigned long long>(node.deep));
                } else {
                    const profiling::FrameInfo& f = profile.frames[node.frame];
                    item = Py_BuildValue("(IssziKKK)", node.parent, f.function.c_str(),
                                         f.qualname ? f.qualname->c_str() : nullptr, f.file.c_str(), f.first_line,
                                         static_cast<unsigned long long>(node.calls),
                                         static_cast<unsigned long long>(node.own),
                                         static_cast<unsigned long long>(node.deep));
                }
                if (!item || PyList_Append(nodes, item) < 0) {
                    Py_XDECREF(item);
                    Py_CLEAR(nodes);
                    break;
                }
                Py_DECREF(item);
            }
            if (!nodes) {
                Py_DECREF(result);
                return nullptr;
            }
            PyObject* entry = Py_BuildValue("{s:K,s:i,s:s,s:N}", "thread_id",
                                            static_cast<unsigned long long>(thread.thread_id), "native_id",
                                            thread.native_id.value_or(0), "name",
                                            thread.name ? thread.name->c_str() : nullptr, "nodes", nodes);
            if (!entry || PyList_Append(result, entry) < 0) {
                Py_XDECREF(entry);
                Py_DECREF(result);
                return nullptr;
            }
            Py_DECREF(entry);
        }
        return result;
    });
}

PyObject* py_is_active(PyObject*, PyObject*) { return PyBool_FromLong(g.active); }

PyMethodDef methods[] = {
    {"start", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(py_start)), METH_VARARGS | METH_KEYWORDS,
     "start(timer='thread', clock='auto'): starts tracing every thread."},
    {"stop", py_stop, METH_NOARGS, "stop(): stops tracing; the profile is kept."},
    {"clear", py_clear, METH_NOARGS, "clear(): forgets the profile."},
    {"is_active", py_is_active, METH_NOARGS, "is_active() -> bool"},
    {"clock_kind", py_clock_kind, METH_NOARGS,
     "clock_kind() -> 'perf' or 'hybrid': the thread clock clock='auto' picks on this machine."},
    {"dump", py_dump, METH_VARARGS, "dump(path, names, info=None): writes the profile as a .prf file."},
    {"dumps", py_dumps, METH_VARARGS, "dumps(names, info=None) -> bytes: the .prf file dump() writes."},
    {"exclude_current_thread", py_exclude_current_thread, METH_NOARGS,
     "exclude_current_thread(): ignores the calling thread's events until clear(); it is left out of the profile."},
    {"save_flamegraph", py_save_flamegraph, METH_VARARGS,
     "save_flamegraph(path, names, per_thread=False): writes collapsed stacks (OWN nanoseconds)."},
    {"tree", py_tree, METH_VARARGS, "tree(names=None) -> per-thread node lists."},
    {"_greenlet_switch", greenlet_switch, METH_VARARGS, "greenlet.settrace callback."},
#if PY_VERSION_HEX < 0x030C0000
    {"_thread_hook", thread_hook, METH_VARARGS, "threading.setprofile hook."},
#endif
    {nullptr, nullptr, 0, nullptr},
};

#if PY_MAJOR_VERSION >= 3
PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_tracer", "The tracing profiler's native part.", -1, methods,
    nullptr, nullptr, nullptr, nullptr,
};
#endif

}  // namespace

#if PY_MAJOR_VERSION < 3
// 2.7: _native.py loads the file as profiling._tracer (imp.load_dynamic), so
// the entry point is init_tracer, whatever the file's ABI-tagged name.
PyMODINIT_FUNC init_tracer() {
    PyObject* module = Py_InitModule3("_tracer", methods, "The tracing profiler's native part.");   // borrowed
    if (!module) return;
    PyModule_AddIntConstant(module, "USES_SYS_MONITORING", 0);
}
#else

PyMODINIT_FUNC PyInit__tracer() {
    PyObject* module = PyModule_Create(&module_def);
    if (!module) return nullptr;
    if (PyModule_AddIntConstant(module, "USES_SYS_MONITORING", PY_VERSION_HEX >= 0x030C0000) < 0) {
        Py_DECREF(module);
        return nullptr;
    }
#if PY_VERSION_HEX >= 0x030C0000
    if (!add_callbacks(module)) {
        Py_DECREF(module);
        return nullptr;
    }
#endif
    return module;
}
#endif
