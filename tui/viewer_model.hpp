// The viewer's model, free of ncurses: what rows are shown for a profile and
// what every key does to them. The ncurses front end (viewer_app) only draws
// what this computes; tests and the benchmark drive it directly.
//
// NESTED shows the call tree: a row per call path, children under their
// caller, folded or expanded. FLAT shows a row per function (FrameId), OWN
// summed over every place it is called and DEEP counted once per sample even
// when the function is on the stack several times (recursion).
//
// Rows are identified by their path of FrameIds from the top of the tree,
// never by position: the cursor, the focused subtree and the expanded nodes
// are paths, so they survive updates that add nodes and reorder rows, and a
// switch to another thread's tree. Memory is proportional to the tree shown
// (and to the paths ever expanded), never to the number of samples.
#pragma once

#include "profiling/profile.hpp"
#include "tui/columns.hpp"
#include "src/format/import_roots.hpp"
#include "tui/flat_map.hpp"
#include "tui/view_tree.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace profiling::tui {

enum class Layout { Nested, Flat };

struct Row {
    NodeId node = ViewTree::kNone;   // NESTED: the node of the view tree; FLAT: kNone
    FrameId frame = 0;
    std::uint32_t depth = 0;         // NESTED: levels below the top rows
    NodeStats stats;
    bool has_children = false;
    bool expanded = false;
};

// A row as text, without a terminal.
struct RenderedRow {
    std::string function;            // indentation, fold marker and label, exactly Geometry::function_width columns
    std::size_t label_begin = 0;     // byte offsets into `function`: the name starts here,
    std::size_t location_begin = 0;  // and " (file:line)" (or a module's file) here
    std::vector<std::string> cells;  // the other columns, each right-aligned to its width
};

// How a screen `width` wide is divided between the columns.
struct Geometry {
    std::size_t function_width = 0;
    std::vector<std::size_t> cell_widths;   // one per column after FUNCTION
    static constexpr std::size_t kGap = 2;  // spaces before each cell
};

struct ViewerOptions {
    bool unicode = true;               // "▸ ▾ …" (else "+ - ~")
    // Until the user expands, folds, focuses or jumps, the nodes with at
    // least this percentage of the samples are the open ones (recomputed on
    // every update), so the hot paths are in sight from the start. 0 turns
    // it off.
    double auto_expand_percent = 10;
};

// A set of call paths, as a trie keyed by FrameId: the expanded nodes.
class PathSet {
public:
    static constexpr std::uint32_t kTop = 0;   // the empty path: the tree's root
    static constexpr std::uint32_t kNone = UINT32_MAX;

    PathSet() : marked_(1, false), version_(next_version()) {}
    std::uint32_t child(std::uint32_t parent, FrameId frame) const;
    std::uint32_t child_or_add(std::uint32_t parent, FrameId frame);
    bool marked(std::uint32_t id) const { return id != kNone && marked_[id]; }
    void set(std::span<const FrameId> path, bool marked);
    void mark(std::uint32_t id, bool marked) { marked_[id] = marked; }
    std::uint32_t find(std::span<const FrameId> path) const;
    std::size_t memory_bytes() const;
    // Changes whenever a path is added (ids found by child() and find()
    // stay valid while it does not); unique across PathSets.
    std::uint64_t version() const { return version_; }

private:
    static std::uint64_t key(std::uint32_t parent, FrameId frame) { return (std::uint64_t{parent} << 32) | frame; }
    static std::uint64_t next_version();
    std::vector<bool> marked_;
    FlatMap children_;   // (parent << 32 | frame) -> child
    std::uint64_t version_;
};

class ViewerModel {
public:
    explicit ViewerModel(ViewerOptions options = {});

    // ---- Data
    // A new profile. Shown at once, or kept until resume while paused.
    // Returns the profile offered before, which the model may no longer
    // need: freeing a large profile takes milliseconds, so the caller can
    // let it go after the frame is drawn.
    std::shared_ptr<const Profile> offer(std::shared_ptr<const Profile> profile);
    // space: while paused the shown profile stays as it is; resuming shows
    // the newest one offered meanwhile.
    void toggle_pause();
    bool paused() const { return paused_; }
    const Profile* shown() const { return profile_.get(); }
    const Profile* latest() const { return latest_.get(); }

    // ---- What is on screen
    Layout layout() const { return layout_; }
    const std::vector<Row>& rows() const { return rows_; }
    std::size_t cursor() const { return cursor_; }   // index into rows(); 0 when there are none
    std::size_t top() const { return top_; }         // the first row on screen
    void set_viewport(std::size_t height);
    std::size_t viewport() const { return viewport_; }
    std::span<const Column> columns() const { return columns_; }
    std::size_t sort_column() const { return sort_column_; }   // index into columns()
    std::uint64_t total() const;                                // what percentages are of
    bool focused() const { return !focus_path_.empty(); }
    // Threads: "all" or one; thread_title() names the choice.
    std::optional<std::uint64_t> thread() const { return thread_; }
    std::string thread_title() const;
    const ViewTree& tree() const { return tree_; }
    // The label of a frame, safe to draw ("qualname (file:line)", a
    // module's "file:line").
    const std::string& label(FrameId frame);
    // The label of the row under the cursor ("" without rows); of the
    // focused subtree's top ("" when not focused).
    std::string selected_label();
    std::string focus_label();
    // The path of FrameIds of the row under the cursor (NESTED).
    std::vector<FrameId> selected_path() const;

    // ---- Keys
    void move(std::ptrdiff_t delta);   // ↑ -1, ↓ +1
    void page_up();
    void page_down();
    void home();
    void end();
    void expand();          // →: expand; on an expanded row go to its first child
    void fold();            // ←: fold; on a folded row or a leaf go to the parent
    void expand_subtree();  // *: expand the row and everything below it
    void focus();           // enter: the row becomes the root; in FLAT, show the heaviest place it is called in NESTED
    void defocus();         // esc: back to the whole tree
    void hotspot();         // >: follow the heaviest child down to where the time is spent
    void toggle_layout();   // '\': NESTED <-> FLAT
    void toggle_full_paths();   // p: files below their import root <-> full paths
    bool shows_full_paths() const { return full_paths_; }
    void cycle_sort(int direction);     // ] +1, [ -1
    void cycle_thread(int direction);   // t +1, T -1: all threads, then each thread

    // ---- Off-screen rendering
    Geometry geometry(std::size_t width) const;
    std::vector<std::string> header(const Geometry& geometry) const;   // one string per column
    RenderedRow render(std::size_t row, const Geometry& geometry);

    // Bytes the model holds besides the profile itself.
    std::size_t memory_bytes() const;

private:
    struct Label {
        std::string text;
        std::uint32_t name_size = 0;
        bool ready = false;
    };

    void apply(std::shared_ptr<const Profile> profile);
    void rebuild_tree();
    void rebuild_rows();
    void build_nested();
    void build_flat();
    void auto_expand();
    void pin_cursor();
    void cursor_moved();
    void scroll_to_cursor();
    void clamp_top();
    bool before(const NodeStats& a, FrameId fa, const NodeStats& b, FrameId fb);
    NodeId heaviest_child(NodeId id);
    void expand_path_to(NodeId id);
    const Label& label_entry(FrameId frame);

    ViewerOptions options_;
    std::shared_ptr<const Profile> profile_;   // shown
    std::shared_ptr<const Profile> latest_;    // newest offered
    bool paused_ = false;
    bool times_ = false;                       // tracing: own/deep are nanoseconds
    std::span<const Column> columns_;
    std::size_t sort_column_ = 0;

    Layout layout_ = Layout::Nested;
    std::optional<std::uint64_t> thread_;
    std::vector<FrameId> focus_path_;
    std::vector<FrameId> cursor_path_;         // NESTED
    // Until the user moves or acts on a row, the cursor stays on the top row
    // whatever it shows; from then on it stays on its function path.
    std::optional<FrameId> flat_cursor_;       // FLAT: the function, once chosen
    bool cursor_pinned_ = false;               // NESTED: cursor_path_ names the row chosen
    PathSet expanded_;
    bool auto_expand_ = true;

    std::vector<ViewTree::Source> sources_;
    ViewTree tree_;
    // The PathSet id of each tree node, looked up once (kUnknown: not yet);
    // valid for trie_version_ of expanded_ and the tree's node ids.
    static constexpr std::uint32_t kUnknown = PathSet::kNone - 1;
    std::vector<std::uint32_t> trie_of_;
    std::uint64_t trie_version_ = 0;
    NodeId root_ = ViewTree::kRoot;            // the focused node, or the root
    std::vector<Row> rows_;
    std::size_t cursor_ = 0;
    std::size_t top_ = 0;
    std::size_t viewport_ = 20;
    std::vector<Label> labels_;
    // Files are shown below their import root (src/format/import_roots.hpp)
    // unless full_paths_ (--full-paths, or the p key).
    ImportRoots roots_{std::string()};
    bool full_paths_ = profiling::full_paths();
    // Scratch reused between builds.
    std::vector<std::pair<NodeId, std::uint32_t>> work_;
    std::vector<NodeId> siblings_;
};

}  // namespace profiling::tui
