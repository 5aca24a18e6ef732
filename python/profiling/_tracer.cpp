// profiling._tracer: the deterministic tracing profiler, in process.
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
// The module's data flow: events -> per-thread trees (here) -> snapshot() ->
// profiling::Profile -> .prf (encode_profile) / collapsed stacks, the code the
// `profiling` command uses.
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h>

#include "_timer.hpp"
#include "profiling/errors.hpp"
#include "profiling/profile.hpp"
#include "src/collapsed_stacks.hpp"
#include "src/profile_file.hpp"

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

struct Node {
    const void* key = nullptr;   // PyCodeObject* or PyMethodDef*
    std::uint32_t parent = 0;
    std::uint32_t first_child = 0;     // 0: none (the root is never a child)
    std::uint32_t next_sibling = 0;
    Kind kind = Kind::Root;
    std::uint64_t calls = 0;
    std::uint64_t own = 0;
};

struct ThreadData {
    std::uint64_t generation = 0;
    std::uint64_t thread_id = 0;
    long native_id = 0;
    std::vector<Node> nodes;
    std::vector<std::uint32_t> stack;
    std::uint64_t last = 0;
    ThreadCpuClock clock;
    std::unordered_map<PyObject*, std::vector<std::uint32_t>> parked;   // greenlet -> its stack
};

struct CFunctionName {
    std::string function;
    std::string qualname;
};

struct State {
    bool active = false;
    std::uint64_t generation = 1;
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

std::uint64_t now(ThreadData* t) {
    if (g.mode == TimerMode::Wall) return profiling::tracer::g_wall_clock.now();
    return t->clock.now();
}

ThreadData* register_thread() {
    auto data = std::make_unique<ThreadData>();
    data->generation = g.generation;
    data->thread_id = PyThread_get_thread_ident();
    data->native_id = static_cast<long>(syscall(SYS_gettid));
    data->nodes.emplace_back();
    if (g.mode != TimerMode::Wall) data->clock.open(g.clock_kind);
    data->last = now(data.get());
    tls = data.get();
    g.threads.push_back(std::move(data));
    return tls;
}

inline ThreadData* current() {
    ThreadData* t = tls;
    if (t == nullptr || t->generation != g.generation) t = register_thread();
    return t;
}

// Charges the time since the last event to the top of the stack.
inline std::uint64_t charge(ThreadData* t) {
    std::uint64_t at = now(t);
    if (!t->stack.empty()) t->nodes[t->stack.back()].own += at - t->last;
    t->last = at;
    return at;
}

void remember_c_name(const void* key, PyObject* callable);

inline void enter(ThreadData* t, const void* key, Kind kind, PyObject* object) {
    charge(t);
    std::uint32_t parent = t->stack.empty() ? 0 : t->stack.back();
    std::uint32_t child = t->nodes[parent].first_child;
    while (child != 0 && t->nodes[child].key != key) child = t->nodes[child].next_sibling;
    if (child == 0) {
        child = static_cast<std::uint32_t>(t->nodes.size());
        Node node;
        node.key = key;
        node.parent = parent;
        node.kind = kind;
        node.next_sibling = t->nodes[parent].first_child;
        t->nodes.push_back(node);
        t->nodes[parent].first_child = child;
        if (kind == Kind::Python) {
            Py_INCREF(object);
            g.held_codes.push_back(object);
        } else {
            remember_c_name(key, object);
        }
    }
    t->nodes[child].calls += 1;
    t->stack.push_back(child);
}

inline void leave(ThreadData* t) {
    if (t->stack.empty()) return;   // a frame that was running when profiling started
    charge(t);
    t->stack.pop_back();
}

// ---------------------------------------------------------------- C functions

// The key of a C function call (its PyMethodDef), or null for other callables.
inline const void* c_key(PyObject* callable) {
    if (PyCFunction_Check(callable)) return reinterpret_cast<PyCFunctionObject*>(callable)->m_ml;
    if (Py_TYPE(callable) == &PyMethodDescr_Type) return reinterpret_cast<PyMethodDescrObject*>(callable)->d_method;
    return nullptr;
}

// Names a C function the way cProfile does.
void remember_c_name(const void* key, PyObject* callable) {
    if (g.c_names.count(key)) return;
    CFunctionName name;
    if (PyCFunction_Check(callable)) {
        auto* fn = reinterpret_cast<PyCFunctionObject*>(callable);
        name.function = fn->m_ml->ml_name;
        PyObject* self = fn->m_self;
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
    } else {
        auto* descr = reinterpret_cast<PyMethodDescrObject*>(callable);
        name.function = descr->d_method->ml_name;
        name.qualname =
            "<method '" + name.function + "' of '" + descr->d_common.d_type->tp_name + "' objects>";
    }
    g.c_names.emplace(key, std::move(name));
}

// ---------------------------------------------------------------- events before 3.12: PyEval_SetProfile

#if PY_VERSION_HEX < 0x030C0000

PyCodeObject* frame_code(PyFrameObject* frame) {
#if PY_VERSION_HEX >= 0x03090000
    PyCodeObject* code = PyFrame_GetCode(frame);   // new reference
    Py_DECREF(code);                                // the frame keeps it alive
    return code;
#else
    return frame->f_code;
#endif
}

int profile_func(PyObject*, PyFrameObject* frame, int what, PyObject* arg) {
    if (!g.active) return 0;
    ThreadData* t = current();
    switch (what) {
    case PyTrace_CALL: {
        PyCodeObject* code = frame_code(frame);
        enter(t, code, Kind::Python, reinterpret_cast<PyObject*>(code));
        break;
    }
    case PyTrace_RETURN:
        leave(t);
        break;
    case PyTrace_C_CALL:
        if (const void* key = c_key(arg)) enter(t, key, Kind::C, arg);
        break;
    case PyTrace_C_RETURN:
    case PyTrace_C_EXCEPTION:
        if (c_key(arg)) leave(t);
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
    PyEval_SetProfile(profile_func, nullptr);
    if (g.active && PyFrame_Check(args[0])) {
        const char* event = PyUnicode_AsUTF8(args[1]);
        if (event == nullptr) return nullptr;
        if (std::string(event) == "call") {
            PyCodeObject* code = frame_code(reinterpret_cast<PyFrameObject*>(args[0]));
            enter(current(), code, Kind::Python, reinterpret_cast<PyObject*>(code));
        }
    }
    Py_RETURN_NONE;
}
#endif

// ---------------------------------------------------------------- events on 3.12+: sys.monitoring callbacks

#if PY_VERSION_HEX >= 0x030C0000
PyObject* mon_enter(PyObject*, PyObject* const* args, Py_ssize_t nargs) {   // PY_START, PY_RESUME, PY_THROW
    if (g.active && nargs >= 1) enter(current(), args[0], Kind::Python, args[0]);
    Py_RETURN_NONE;
}
PyObject* mon_leave(PyObject*, PyObject* const*, Py_ssize_t) {   // PY_RETURN, PY_YIELD, PY_UNWIND
    if (g.active) leave(current());
    Py_RETURN_NONE;
}
PyObject* mon_call(PyObject*, PyObject* const* args, Py_ssize_t nargs) {   // CALL
    if (g.active && nargs >= 3) {
        if (const void* key = c_key(args[2])) enter(current(), key, Kind::C, args[2]);
    }
    Py_RETURN_NONE;
}
PyObject* mon_c_leave(PyObject*, PyObject* const* args, Py_ssize_t nargs) {   // C_RETURN, C_RAISE
    if (g.active && nargs >= 3 && c_key(args[2])) leave(current());
    Py_RETURN_NONE;
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
    ThreadData* t = current();
    charge(t);
    if (!t->stack.empty()) t->parked[origin] = std::move(t->stack);
    t->stack.clear();
    if (auto it = t->parked.find(target); it != t->parked.end()) {
        t->stack = std::move(it->second);
        t->parked.erase(it);
    }
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
    tls = nullptr;
}

PyObject* py_start(PyObject*, PyObject* args, PyObject* kwargs) {
    const char* timer = "thread";
    const char* clock = "auto";
    static const char* keywords[] = {"timer", "clock", nullptr};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|ss", const_cast<char**>(keywords), &timer, &clock)) {
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
    current()->last = now(current());
#if PY_VERSION_HEX < 0x030C0000
#if PY_VERSION_HEX >= 0x03090000
    // Every thread that exists now; threading.setprofile (in Python) covers later ones.
    for (PyThreadState* ts = PyInterpreterState_ThreadHead(PyThreadState_Get()->interp); ts != nullptr;
         ts = PyThreadState_Next(ts)) {
        if (_PyEval_SetProfile(ts, profile_func, nullptr) < 0) return nullptr;
    }
#else
    PyEval_SetProfile(profile_func, nullptr);
#endif
#endif
    Py_RETURN_NONE;
}

PyObject* py_stop(PyObject*, PyObject*) {
    if (!g.active) Py_RETURN_NONE;
#if PY_VERSION_HEX < 0x030C0000
#if PY_VERSION_HEX >= 0x03090000
    for (PyThreadState* ts = PyInterpreterState_ThreadHead(PyThreadState_Get()->interp); ts != nullptr;
         ts = PyThreadState_Next(ts)) {
        if (_PyEval_SetProfile(ts, nullptr, nullptr) < 0) return nullptr;
    }
#else
    PyEval_SetProfile(nullptr, nullptr);
#endif
#endif
    // Frames still open: charge this thread's up to now; every stack is closed.
    ThreadData* t = current();
    charge(t);
    for (auto& thread : g.threads) {
        thread->stack.clear();
        thread->parked.clear();
    }
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

PyObject* py_clock_kind(PyObject*, PyObject*) {
    ThreadCpuClock clock;
    clock.open(profiling::tracer::ClockKind::Auto);
    PyObject* kind = PyUnicode_FromString(clock.kind());
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
    profile.info.python_version = std::to_string(PY_MAJOR_VERSION) + "." + std::to_string(PY_MINOR_VERSION) + "." +
                                  std::to_string(PY_MICRO_VERSION);
    std::unordered_map<const void*, profiling::FrameId> frame_ids;
    auto frame_of = [&](const Node& node) -> profiling::FrameId {
        if (auto it = frame_ids.find(node.key); it != frame_ids.end()) return it->second;
        profiling::FrameInfo info;
        if (node.kind == Kind::Python) {
            auto* code = static_cast<PyCodeObject*>(const_cast<void*>(node.key));
            const char* s = PyUnicode_AsUTF8(code->co_name);
            info.function = s ? s : "?";
#if PY_VERSION_HEX >= 0x030B0000
            s = PyUnicode_AsUTF8(code->co_qualname);
            if (s) info.qualname = s;
#endif
            s = PyUnicode_AsUTF8(code->co_filename);
            info.file = s ? s : "?";
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
        if (thread->nodes.size() <= 1) continue;
        profiling::ThreadProfile& out = profile.thread(thread->thread_id);
        out.native_id = static_cast<std::int32_t>(thread->native_id);
        if (names && PyDict_Check(names)) {
            PyObject* key = PyLong_FromUnsignedLongLong(thread->thread_id);
            PyObject* name = key ? PyDict_GetItem(names, key) : nullptr;
            Py_XDECREF(key);
            if (name && PyUnicode_Check(name)) {
                if (const char* s = PyUnicode_AsUTF8(name)) out.name = s;
            }
            PyErr_Clear();
        }
        std::vector<profiling::NodeId> mapped(thread->nodes.size(), profiling::CallTree::kRoot);
        for (std::size_t i = 1; i < thread->nodes.size(); ++i) {
            const Node& node = thread->nodes[i];
            profiling::NodeId id = out.tree.child(mapped[node.parent], frame_of(node));
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
    if (PyObject* v = PyDict_GetItemString(info, "command"); v && PyUnicode_Check(v)) {
        if (const char* s = PyUnicode_AsUTF8(v)) profile.info.command = s;
    }
    if (PyObject* v = PyDict_GetItemString(info, "duration_s"); v && PyFloat_Check(v)) {
        double d = PyFloat_AsDouble(v);
        if (d >= 0) profile.info.duration_s = d;
    }
    if (PyObject* v = PyDict_GetItemString(info, "started_unix_ms"); v && PyLong_Check(v)) {
        profile.info.started_unix_ms = PyLong_AsLongLong(v);
    }
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

// save_flamegraph(path, names, per_thread): writes collapsed stacks weighted by OWN nanoseconds.
PyObject* py_save_flamegraph(PyObject*, PyObject* args) {
    const char* path;
    PyObject* names;
    int per_thread = 0;
    if (!PyArg_ParseTuple(args, "sO|p", &path, &names, &per_thread)) return nullptr;
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

#define FASTCALL(f) reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(f))

PyMethodDef methods[] = {
    {"start", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(py_start)), METH_VARARGS | METH_KEYWORDS,
     "start(timer='thread', clock='auto'): starts tracing every thread."},
    {"stop", py_stop, METH_NOARGS, "stop(): stops tracing; the profile is kept."},
    {"clear", py_clear, METH_NOARGS, "clear(): forgets the profile."},
    {"is_active", py_is_active, METH_NOARGS, "is_active() -> bool"},
    {"clock_kind", py_clock_kind, METH_NOARGS,
     "clock_kind() -> 'perf' or 'hybrid': the thread clock clock='auto' picks on this machine."},
    {"dump", py_dump, METH_VARARGS, "dump(path, names, info=None): writes the profile as a .prf file."},
    {"save_flamegraph", py_save_flamegraph, METH_VARARGS,
     "save_flamegraph(path, names, per_thread=False): writes collapsed stacks (OWN nanoseconds)."},
    {"tree", py_tree, METH_VARARGS, "tree(names=None) -> per-thread node lists."},
    {"_greenlet_switch", greenlet_switch, METH_VARARGS, "greenlet.settrace callback."},
#if PY_VERSION_HEX < 0x030C0000
    {"_thread_hook", thread_hook, METH_VARARGS, "threading.setprofile hook."},
#else
    {"_mon_enter", FASTCALL(mon_enter), METH_FASTCALL, "sys.monitoring PY_START/PY_RESUME/PY_THROW."},
    {"_mon_leave", FASTCALL(mon_leave), METH_FASTCALL, "sys.monitoring PY_RETURN/PY_YIELD/PY_UNWIND."},
    {"_mon_call", FASTCALL(mon_call), METH_FASTCALL, "sys.monitoring CALL."},
    {"_mon_c_leave", FASTCALL(mon_c_leave), METH_FASTCALL, "sys.monitoring C_RETURN/C_RAISE."},
#endif
    {nullptr, nullptr, 0, nullptr},
};

PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_tracer", "The tracing profiler's native part.", -1, methods,
    nullptr, nullptr, nullptr, nullptr,
};

}  // namespace

PyMODINIT_FUNC PyInit__tracer() {
    PyObject* module = PyModule_Create(&module_def);
    if (!module) return nullptr;
    if (PyModule_AddIntConstant(module, "USES_SYS_MONITORING", PY_VERSION_HEX >= 0x030C0000) < 0) {
        Py_DECREF(module);
        return nullptr;
    }
    return module;
}
