// The arguments and local variables of one Python frame, read from memory.
//
// <= 3.10: PyFrameObject.f_localsplus holds co_nlocals fast locals (named by
// co_varnames), then one cell per co_cellvars, then one per co_freevars.
// 3.11+: _PyInterpreterFrame.localsplus holds one slot per
// co_localsplusnames, whose co_localspluskinds byte says local (0x20), cell
// (0x40), free (0x80) or hidden (0x10, 3.12+'s inlined comprehensions; not
// shown); 3.14+ slots are _PyStackRefs (low two bits are tags). A cell
// slot holds a cell object once the frame made it, its ob_ref the value.
// Arguments come first: co_argcount + co_kwonlyargcount, then *args and
// **kwargs when co_flags says so. Only fast locals are shown: module and
// class bodies keep their names in a dict.
#pragma once

#include "attach/layouts.hpp"
#include "attach/object_repr.hpp"
#include "attach/process_memory.hpp"
#include "profiling/stack.hpp"

#include <cstdint>
#include <optional>
#include <vector>

namespace profiling::attach {

// Most variables shown per frame.
inline constexpr std::size_t kMaxLocals = 1024;

// nullopt when the frame no longer runs `code` (it returned meanwhile) or
// cannot be read.
std::optional<std::vector<LocalVariable>> read_frame_locals(MemoryReader& memory, const Layout& layout,
                                                            ObjectReprReader& objects, std::uint64_t frame,
                                                            std::uint64_t code);

}  // namespace profiling::attach
