#include "attach/frame_locals.hpp"

#include "attach/python_objects.hpp"

#include <algorithm>
#include <cstring>

namespace profiling::attach {

namespace {

constexpr std::int32_t kVarArgs = 0x4;       // CO_VARARGS (2.7 and 3.x)
constexpr std::int32_t kVarKeywords = 0x8;   // CO_VARKEYWORDS
constexpr std::uint8_t kKindHidden = 0x10, kKindCell = 0x40, kKindFree = 0x80;

template <typename T>
T load(const unsigned char* block, Offset at) {
    T value{};
    std::memcpy(&value, block + at, sizeof(T));
    return value;
}

// The items of a tuple of str (names), as UTF-8.
std::optional<std::vector<std::string>> read_names(MemoryReader& memory, const Layout& layout, std::uint64_t tuple) {
    std::int64_t size = 0;
    if (tuple == 0 || !memory.read_value(tuple + layout.varobject_size, size) || size < 0 ||
        static_cast<std::size_t>(size) > kMaxLocals) {
        return std::nullopt;
    }
    std::vector<std::uint64_t> items(static_cast<std::size_t>(size));
    if (size > 0 && !memory.read(tuple + layout.tuple_items, items.data(), items.size() * 8)) return std::nullopt;
    std::vector<std::string> names;
    for (std::uint64_t item : items) {
        auto name = read_string_object(memory, layout, item);
        if (!name) return std::nullopt;
        names.push_back(std::move(*name));
    }
    return names;
}

struct Slot {
    std::string name;
    LocalVariable::Kind kind;
    std::uint64_t value;
    bool is_cell_slot;   // the slot may hold a cell to look through
};

void describe(ObjectReprReader& objects, MemoryReader& memory, const Layout& layout, const Slot& slot,
              std::vector<LocalVariable>& out) {
    LocalVariable variable;
    variable.name = slot.name;
    variable.kind = slot.kind;
    std::uint64_t value = slot.value;
    if (value != 0 && slot.is_cell_slot) {
        const auto* type = objects.type_of(value);
        if (type && type->builtin && type->name == "cell") {
            std::uint64_t inside = 0;
            if (!memory.read_value(value + layout.cell_ref, inside)) inside = 0;
            value = inside;
        }
    }
    if (value == 0) {
        variable.bound = false;
        variable.repr = "<unbound>";
    } else {
        ObjectRepr repr = objects.describe(value);
        variable.type = std::move(repr.type);
        variable.repr = std::move(repr.repr);
        variable.truncated = repr.truncated;
        variable.address = value;
    }
    out.push_back(std::move(variable));
}

}  // namespace

std::optional<std::vector<LocalVariable>> read_frame_locals(MemoryReader& memory, const Layout& layout,
                                                            ObjectReprReader& objects, std::uint64_t frame,
                                                            std::uint64_t code) {
    if (frame == 0 || code == 0 || layout.code_argcount == kAbsent) return std::nullopt;
    const bool interpreter_frames = layout.frame_model == FrameModel::InterpreterFrames;
    // Still the frame that was walked: its code pointer unchanged.
    std::uint64_t current = 0;
    if (!memory.read_value(frame + (interpreter_frames ? layout.iframe_code : layout.frame_code), current)) {
        return std::nullopt;
    }
    if (layout.code_is_tagged) current &= ~std::uint64_t{3};
    if (current != code) return std::nullopt;

    unsigned char header[256];
    const Offset header_span = std::max({layout.code_argcount, layout.code_kwonlyargcount, layout.code_flags,
                                         layout.code_nlocals, layout.code_varnames, layout.code_cellvars,
                                         layout.code_freevars, layout.code_localsplusnames,
                                         layout.code_localspluskinds}) + 8;
    if (header_span > static_cast<Offset>(sizeof header) || !memory.read(code, header, static_cast<std::size_t>(header_span))) {
        return std::nullopt;
    }
    const auto argcount = load<std::int32_t>(header, layout.code_argcount);
    const auto kwonly = layout.code_kwonlyargcount != kAbsent ? load<std::int32_t>(header, layout.code_kwonlyargcount) : 0;
    const auto flags = load<std::int32_t>(header, layout.code_flags);
    if (argcount < 0 || kwonly < 0 || argcount + kwonly > static_cast<std::int32_t>(kMaxLocals)) return std::nullopt;
    const std::size_t nargs = static_cast<std::size_t>(argcount + kwonly) + ((flags & kVarArgs) ? 1 : 0) +
                              ((flags & kVarKeywords) ? 1 : 0);

    std::vector<Slot> slots;
    if (interpreter_frames) {
        auto names = read_names(memory, layout, load<std::uint64_t>(header, layout.code_localsplusnames));
        auto kinds = read_bytes_object(memory, layout, load<std::uint64_t>(header, layout.code_localspluskinds));
        if (!names || !kinds || kinds->size() != names->size()) return std::nullopt;
        std::vector<std::uint64_t> values(names->size());
        if (!values.empty() && !memory.read(frame + layout.iframe_localsplus, values.data(), values.size() * 8)) {
            return std::nullopt;
        }
        for (std::size_t i = 0; i < names->size(); ++i) {
            const std::uint8_t kind = (*kinds)[i];
            std::uint64_t value = values[i];
            if (layout.locals_are_tagged) value = (value & 3) == 3 ? 0 : value & ~std::uint64_t{3};
            if ((kind & kKindHidden) && value == 0) continue;
            LocalVariable::Kind shown = i < nargs ? LocalVariable::Kind::Argument
                                      : (kind & kKindFree) ? LocalVariable::Kind::Free
                                      : (kind & kKindCell) ? LocalVariable::Kind::Cell
                                                           : LocalVariable::Kind::Local;
            slots.push_back({(*names)[i], shown, value, (kind & (kKindCell | kKindFree)) != 0});
        }
    } else {
        const auto nlocals = load<std::int32_t>(header, layout.code_nlocals);
        auto varnames = read_names(memory, layout, load<std::uint64_t>(header, layout.code_varnames));
        auto cellvars = read_names(memory, layout, load<std::uint64_t>(header, layout.code_cellvars));
        auto freevars = read_names(memory, layout, load<std::uint64_t>(header, layout.code_freevars));
        if (!varnames || !cellvars || !freevars || nlocals < 0 ||
            static_cast<std::size_t>(nlocals) != varnames->size()) {
            return std::nullopt;
        }
        const std::size_t total = varnames->size() + cellvars->size() + freevars->size();
        if (total > kMaxLocals) return std::nullopt;
        std::vector<std::uint64_t> values(total);
        if (total > 0 && !memory.read(frame + layout.frame_localsplus, values.data(), total * 8)) return std::nullopt;
        auto is_cell_name = [&](const std::string& name) {
            for (const std::string& cell : *cellvars) {
                if (cell == name) return true;
            }
            return false;
        };
        for (std::size_t i = 0; i < varnames->size(); ++i) {
            // An argument that is also a cell lives in its cell: shown there
            // (3.x clears the fast slot, 2.7 leaves a stale copy in it).
            if (is_cell_name((*varnames)[i])) continue;
            slots.push_back({(*varnames)[i], i < nargs ? LocalVariable::Kind::Argument : LocalVariable::Kind::Local,
                             values[i], false});
        }
        for (std::size_t i = 0; i < cellvars->size(); ++i) {
            const std::string& name = (*cellvars)[i];
            bool argument = false;
            for (std::size_t a = 0; a < nargs && a < varnames->size(); ++a) argument |= (*varnames)[a] == name;
            slots.push_back({name, argument ? LocalVariable::Kind::Argument : LocalVariable::Kind::Cell,
                             values[varnames->size() + i], true});
        }
        for (std::size_t i = 0; i < freevars->size(); ++i) {
            slots.push_back({(*freevars)[i], LocalVariable::Kind::Free,
                             values[varnames->size() + cellvars->size() + i], true});
        }
    }
    std::vector<LocalVariable> out;
    for (const Slot& slot : slots) describe(objects, memory, layout, slot, out);
    return out;
}

}  // namespace profiling::attach
