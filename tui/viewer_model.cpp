#include "tui/viewer_model.hpp"

#include "tui/text.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <unordered_map>
#include <utility>

namespace profiling::tui {

// ---- PathSet

std::uint32_t PathSet::child(std::uint32_t parent, FrameId frame) const {
    if (parent == kNone) return kNone;
    std::uint32_t id = children_.find(key(parent, frame));
    return id == FlatMap::kMissing ? kNone : id;
}

std::uint64_t PathSet::next_version() {
    static std::uint64_t last = 0;   // the viewer model is used from one thread
    return ++last;
}

std::uint32_t PathSet::child_or_add(std::uint32_t parent, FrameId frame) {
    bool inserted = false;
    std::uint32_t id = children_.find_or_insert(key(parent, frame), static_cast<std::uint32_t>(marked_.size()), inserted);
    if (inserted) {
        marked_.push_back(false);
        version_ = next_version();
    }
    return id;
}

void PathSet::set(std::span<const FrameId> path, bool marked) {
    if (!marked) {
        std::uint32_t id = find(path);
        if (id != kNone) marked_[id] = false;
        return;
    }
    std::uint32_t at = kTop;
    for (FrameId frame : path) at = child_or_add(at, frame);
    marked_[at] = true;
}

std::uint32_t PathSet::find(std::span<const FrameId> path) const {
    std::uint32_t at = kTop;
    for (FrameId frame : path) {
        at = child(at, frame);
        if (at == kNone) break;
    }
    return at;
}

std::size_t PathSet::memory_bytes() const {
    return marked_.capacity() / 8 + children_.memory_bytes();
}

// ---- ViewerModel

ViewerModel::ViewerModel(ViewerOptions options) : options_(options), columns_(columns_for("sampling")) {
    for (std::size_t i = 0; i < columns_.size(); ++i) {
        if (columns_[i].field == Field::Deep) sort_column_ = i;
    }
}

std::shared_ptr<const Profile> ViewerModel::offer(std::shared_ptr<const Profile> profile) {
    std::shared_ptr<const Profile> previous = std::exchange(latest_, std::move(profile));
    if (!paused_ || !profile_) apply(latest_);
    return previous;
}

void ViewerModel::toggle_pause() {
    paused_ = !paused_;
    if (!paused_ && latest_ && latest_ != profile_) apply(latest_);
}

void ViewerModel::apply(std::shared_ptr<const Profile> profile) {
    profile_ = std::move(profile);
    const bool tracing = profile_->info.kind == "tracing";
    if (tracing != times_) {
        times_ = tracing;
        columns_ = columns_for(profile_->info.kind);
        sort_column_ = 0;
        for (std::size_t i = 0; i < columns_.size(); ++i) {
            if (columns_[i].field == Field::Deep) sort_column_ = i;
        }
    }
    // FrameIds name the same functions across updates of one profile, but
    // labels are cheap to remake lazily, so none is trusted across updates.
    labels_.clear();
    labels_.resize(profile_->frames.size());
    roots_ = ImportRoots(*profile_);
    rebuild_tree();
}

void ViewerModel::rebuild_tree() {
    sources_.clear();
    if (thread_) {
        for (const ThreadProfile& t : profile_->threads) {
            if (t.thread_id == *thread_) sources_.push_back(ViewTree::Source{t.thread_id, &t.tree});
        }
        if (sources_.empty()) thread_.reset();
    }
    if (!thread_) {
        for (const ThreadProfile& t : profile_->threads) sources_.push_back(ViewTree::Source{t.thread_id, &t.tree});
    }
    if (tree_.update(sources_)) trie_version_ = 0;   // node ids changed: every cached trie id is stale
    if (auto_expand_) auto_expand();
    rebuild_rows();
}

std::uint64_t ViewerModel::total() const { return tree_.size() ? tree_.stats(ViewTree::kRoot).deep : 0; }

void ViewerModel::auto_expand() {
    if (options_.auto_expand_percent <= 0 || total() == 0) return;
    // Until the user opens or folds anything, what is open is exactly what
    // is hot now: a path that cooled down (start-up imports) closes again.
    expanded_ = PathSet{};
    const double threshold = static_cast<double>(total()) * options_.auto_expand_percent / 100.0;
    work_.clear();
    work_.emplace_back(ViewTree::kRoot, PathSet::kTop);
    while (!work_.empty()) {
        auto [id, trie] = work_.back();
        work_.pop_back();
        for (NodeId child : tree_.children(id)) {
            if (static_cast<double>(tree_.stats(child).deep) < threshold || !tree_.has_children(child)) continue;
            std::uint32_t child_trie = expanded_.child_or_add(trie, tree_.frame(child));
            expanded_.mark(child_trie, true);
            work_.emplace_back(child, child_trie);
        }
    }
}

bool ViewerModel::before(const NodeStats& a, FrameId fa, const NodeStats& b, FrameId fb) {
    const Field field = columns_[sort_column_].field;
    if (field != Field::Function) {
        double va = sort_value(field, a), vb = sort_value(field, b);
        if (va != vb) return va > vb;
    }
    if (fa == fb) return false;
    label_entry(fa);   // both made first: making one may grow labels_
    label_entry(fb);
    const std::string& la = labels_[fa].text;
    const std::string& lb = labels_[fb].text;
    if (la != lb) return la < lb;
    return fa < fb;
}

void ViewerModel::rebuild_rows() {
    // The screen scrolls only as far as the cursor needs: rows that reorder
    // move under a still list, and none above is hidden for nothing.
    rows_.clear();
    cursor_ = 0;
    if (!profile_) {
        top_ = 0;
        return;
    }
    root_ = focus_path_.empty() ? ViewTree::kRoot : tree_.find_path(focus_path_);
    if (layout_ == Layout::Nested) {
        build_nested();
    } else {
        build_flat();
    }
    clamp_top();
    scroll_to_cursor();
}

void ViewerModel::build_nested() {
    const std::uint32_t base = root_ == ViewTree::kRoot ? 1 : tree_.depth(root_);
    const NodeId target = cursor_pinned_ ? tree_.find_path(cursor_path_) : ViewTree::kNone;
    bool found = false;

    // Trie ids are remembered per node while neither the tree's ids nor the
    // expanded paths change: a steady view looks none up again.
    if (trie_version_ != expanded_.version()) {
        trie_of_.assign(tree_.size(), kUnknown);
        trie_version_ = expanded_.version();
    } else {
        trie_of_.resize(tree_.size(), kUnknown);
    }
    auto push_children = [&](NodeId id, std::uint32_t trie) {
        const auto children = tree_.children(id);
        siblings_.assign(children.begin(), children.end());
        std::sort(siblings_.begin(), siblings_.end(), [&](NodeId a, NodeId b) {
            return before(tree_.stats(a), tree_.frame(a), tree_.stats(b), tree_.frame(b));
        });
        for (auto it = siblings_.rbegin(); it != siblings_.rend(); ++it) {
            std::uint32_t& known = trie_of_[*it];
            if (known == kUnknown) known = expanded_.child(trie, tree_.frame(*it));
            work_.emplace_back(*it, known);
        }
    };

    work_.clear();
    if (root_ == ViewTree::kRoot) {
        push_children(ViewTree::kRoot, PathSet::kTop);
    } else {
        // The focus path may exist only in part (another thread): the trie
        // entry is that of the node found.
        work_.emplace_back(root_, expanded_.find(tree_.path_of(root_)));
    }
    while (!work_.empty()) {
        auto [id, trie] = work_.back();
        work_.pop_back();
        Row row;
        row.node = id;
        row.frame = tree_.frame(id);
        row.depth = tree_.depth(id) - base;
        row.stats = tree_.stats(id);
        row.has_children = tree_.has_children(id);
        row.expanded = row.has_children && expanded_.marked(trie);
        if (id == target) {
            cursor_ = rows_.size();
            found = true;
        }
        rows_.push_back(row);
        if (row.expanded) push_children(id, trie);
    }
    if (rows_.empty()) return;
    if (!found && target != ViewTree::kNone) {
        // The cursor's node is folded away, outside the focus or gone (another
        // thread): the nearest of its callers on screen takes it, and the
        // path is kept, so the cursor returns when the node does.
        std::unordered_map<NodeId, std::size_t> row_of;
        for (std::size_t i = 0; i < rows_.size(); ++i) row_of.emplace(rows_[i].node, i);
        for (NodeId at = target;; at = tree_.parent(at)) {
            if (auto it = row_of.find(at); it != row_of.end()) {
                cursor_ = it->second;
                found = true;
                break;
            }
            if (at == ViewTree::kRoot) break;
        }
    }
}

void ViewerModel::build_flat() {
    std::vector<FlatEntry> entries = tree_.flatten(root_);
    std::sort(entries.begin(), entries.end(),
              [&](const FlatEntry& a, const FlatEntry& b) { return before(a.stats, a.frame, b.stats, b.frame); });
    rows_.reserve(entries.size());
    for (const FlatEntry& entry : entries) {
        Row row;
        row.frame = entry.frame;
        row.stats = entry.stats;
        if (flat_cursor_ && entry.frame == *flat_cursor_) cursor_ = rows_.size();
        rows_.push_back(row);
    }
}

void ViewerModel::set_viewport(std::size_t height) {
    viewport_ = std::max<std::size_t>(height, 1);
    clamp_top();
    scroll_to_cursor();
}

void ViewerModel::clamp_top() {
    const std::size_t max_top = rows_.size() > viewport_ ? rows_.size() - viewport_ : 0;
    top_ = std::min(top_, max_top);
}

void ViewerModel::scroll_to_cursor() {
    if (cursor_ < top_) top_ = cursor_;
    if (cursor_ >= top_ + viewport_) top_ = cursor_ + 1 - viewport_;
}

void ViewerModel::pin_cursor() {
    if (rows_.empty()) return;
    if (layout_ == Layout::Nested) {
        cursor_path_ = tree_.path_of(rows_[cursor_].node);
        cursor_pinned_ = true;
    } else {
        flat_cursor_ = rows_[cursor_].frame;
    }
}

void ViewerModel::cursor_moved() {
    pin_cursor();
    scroll_to_cursor();
}

std::vector<FrameId> ViewerModel::selected_path() const {
    if (rows_.empty() || layout_ != Layout::Nested) return {};
    return tree_.path_of(rows_[cursor_].node);
}

void ViewerModel::move(std::ptrdiff_t delta) {
    if (rows_.empty()) return;
    auto last = static_cast<std::ptrdiff_t>(rows_.size()) - 1;
    auto next = std::clamp(static_cast<std::ptrdiff_t>(cursor_) + delta, std::ptrdiff_t{0}, last);
    cursor_ = static_cast<std::size_t>(next);
    cursor_moved();
}

void ViewerModel::page_down() {
    if (rows_.empty()) return;
    const std::size_t step = viewport_ > 1 ? viewport_ - 1 : 1;
    top_ += step;
    clamp_top();
    cursor_ = std::min(cursor_ + step, rows_.size() - 1);
    cursor_moved();
}

void ViewerModel::page_up() {
    if (rows_.empty()) return;
    const std::size_t step = viewport_ > 1 ? viewport_ - 1 : 1;
    top_ = top_ > step ? top_ - step : 0;
    cursor_ = cursor_ > step ? cursor_ - step : 0;
    cursor_moved();
}

void ViewerModel::home() {
    if (rows_.empty()) return;
    cursor_ = 0;
    top_ = 0;
    cursor_moved();
}

void ViewerModel::end() {
    if (rows_.empty()) return;
    cursor_ = rows_.size() - 1;
    cursor_moved();
}

void ViewerModel::expand() {
    if (rows_.empty() || layout_ != Layout::Nested) return;
    const Row& row = rows_[cursor_];
    if (!row.has_children) return;
    auto_expand_ = false;
    pin_cursor();
    if (row.expanded) {
        move(1);   // the first child is the next row
        return;
    }
    expanded_.set(tree_.path_of(row.node), true);
    rebuild_rows();
}

void ViewerModel::fold() {
    if (rows_.empty() || layout_ != Layout::Nested) return;
    const Row row = rows_[cursor_];
    pin_cursor();
    if (row.expanded) {
        auto_expand_ = false;
        expanded_.set(tree_.path_of(row.node), false);
        rebuild_rows();
        return;
    }
    if (row.depth == 0) return;
    for (std::size_t i = cursor_; i-- > 0;) {
        if (rows_[i].depth < row.depth) {
            cursor_ = i;
            cursor_moved();
            return;
        }
    }
}

void ViewerModel::expand_subtree() {
    if (rows_.empty() || layout_ != Layout::Nested) return;
    const NodeId top = rows_[cursor_].node;
    if (!tree_.has_children(top)) return;
    auto_expand_ = false;
    pin_cursor();
    expanded_.set(tree_.path_of(top), true);
    work_.clear();
    work_.emplace_back(top, expanded_.find(tree_.path_of(top)));
    while (!work_.empty()) {
        auto [id, trie] = work_.back();
        work_.pop_back();
        for (NodeId child : tree_.children(id)) {
            if (!tree_.has_children(child)) continue;
            std::uint32_t child_trie = expanded_.child_or_add(trie, tree_.frame(child));
            expanded_.mark(child_trie, true);
            work_.emplace_back(child, child_trie);
        }
    }
    rebuild_rows();
}

void ViewerModel::expand_path_to(NodeId id) {
    // Every caller of `id` below the shown root opens, so `id` is on screen.
    std::vector<FrameId> path = tree_.path_of(id);
    std::uint32_t trie = PathSet::kTop;
    for (std::size_t i = 0; i + 1 < path.size(); ++i) {
        trie = expanded_.child_or_add(trie, path[i]);
        expanded_.mark(trie, true);
    }
}

void ViewerModel::focus() {
    if (rows_.empty()) return;
    if (layout_ == Layout::Flat) {
        // A function has no single place in the tree: show the heaviest.
        const FrameId frame = rows_[cursor_].frame;
        NodeId best = ViewTree::kNone;
        std::vector<NodeId> pending{root_};
        while (!pending.empty()) {
            NodeId id = pending.back();
            pending.pop_back();
            if (id != ViewTree::kRoot && tree_.frame(id) == frame &&
                (best == ViewTree::kNone || tree_.stats(id).deep > tree_.stats(best).deep ||
                 (tree_.stats(id).deep == tree_.stats(best).deep && tree_.depth(id) < tree_.depth(best)))) {
                best = id;
            }
            for (NodeId child : tree_.children(id)) pending.push_back(child);
        }
        if (best == ViewTree::kNone) return;
        auto_expand_ = false;
        expand_path_to(best);
        cursor_path_ = tree_.path_of(best);
        cursor_pinned_ = true;
        layout_ = Layout::Nested;
        rebuild_rows();
        return;
    }
    const Row& row = rows_[cursor_];
    auto_expand_ = false;
    focus_path_ = tree_.path_of(row.node);
    cursor_path_ = focus_path_;
    cursor_pinned_ = true;
    if (row.has_children) expanded_.set(focus_path_, true);
    top_ = 0;
    rebuild_rows();
}

void ViewerModel::defocus() {
    if (focus_path_.empty()) return;
    focus_path_.clear();
    rebuild_rows();
}

NodeId ViewerModel::heaviest_child(NodeId id) {
    NodeId best = ViewTree::kNone;
    for (NodeId child : tree_.children(id)) {
        if (best == ViewTree::kNone || tree_.stats(child).deep > tree_.stats(best).deep ||
            (tree_.stats(child).deep == tree_.stats(best).deep &&
             before(tree_.stats(child), tree_.frame(child), tree_.stats(best), tree_.frame(best)))) {
            best = child;
        }
    }
    return best;
}

void ViewerModel::hotspot() {
    if (rows_.empty()) return;
    if (layout_ == Layout::Flat) {
        std::size_t best = 0;
        for (std::size_t i = 1; i < rows_.size(); ++i) {
            if (rows_[i].stats.own > rows_[best].stats.own) best = i;
        }
        cursor_ = best;
        cursor_moved();
        return;
    }
    NodeId at = rows_[cursor_].node;
    // Down the heaviest child while it holds at least as much as the node
    // spends itself; where the node's own time wins, the time is spent there.
    for (NodeId next = heaviest_child(at); next != ViewTree::kNone; next = heaviest_child(at)) {
        if (tree_.stats(at).own > tree_.stats(next).deep) break;
        expanded_.set(tree_.path_of(at), true);
        at = next;
    }
    auto_expand_ = false;
    cursor_path_ = tree_.path_of(at);
    cursor_pinned_ = true;
    rebuild_rows();
}

void ViewerModel::toggle_full_paths() {
    full_paths_ = !full_paths_;
    labels_.assign(labels_.size(), Label{});   // every label made again; FUNCTION order may change
    if (profile_) rebuild_rows();
}

void ViewerModel::toggle_layout() {
    if (layout_ == Layout::Nested) {
        // FLAT's cursor goes to the same function, or follows the top row
        // as NESTED's did if the user never moved it.
        if (!rows_.empty() && cursor_pinned_) {
            flat_cursor_ = rows_[cursor_].frame;
        } else {
            flat_cursor_.reset();
        }
        layout_ = Layout::Flat;
    } else {
        layout_ = Layout::Nested;
    }
    rebuild_rows();
}

void ViewerModel::cycle_sort(int direction) {
    const std::size_t n = columns_.size();
    std::size_t at = sort_column_;
    do {
        at = (at + n + static_cast<std::size_t>(direction > 0 ? 1 : n - 1)) % n;
    } while (!columns_[at].sortable && at != sort_column_);
    sort_column_ = at;
    rebuild_rows();
}

void ViewerModel::cycle_thread(int direction) {
    if (!profile_) return;
    const auto& threads = profile_->threads;
    // Positions: 0 is "all threads", i + 1 is threads[i].
    const std::size_t n = threads.size() + 1;
    std::size_t at = 0;
    if (thread_) {
        for (std::size_t i = 0; i < threads.size(); ++i) {
            if (threads[i].thread_id == *thread_) at = i + 1;
        }
    }
    at = (at + (direction > 0 ? 1 : n - 1)) % n;
    if (at == 0) {
        thread_.reset();
    } else {
        thread_ = threads[at - 1].thread_id;
    }
    rebuild_tree();
}

std::string ViewerModel::thread_title() const {
    if (!profile_) return "no threads";
    const auto& threads = profile_->threads;
    if (!thread_) return fmt::format("all threads ({})", threads.size());
    for (std::size_t i = 0; i < threads.size(); ++i) {
        const ThreadProfile& t = threads[i];
        if (t.thread_id != *thread_) continue;
        std::string title = fmt::format("thread {}/{}", i + 1, threads.size());
        if (t.name) title += " \"" + sanitize(*t.name) + "\"";
        title += fmt::format(" {:#x}", t.thread_id);
        if (t.native_id) title += fmt::format(" (native {})", *t.native_id);
        return title;
    }
    return "all threads";
}

const ViewerModel::Label& ViewerModel::label_entry(FrameId frame) {
    if (frame >= labels_.size()) labels_.resize(std::size_t{frame} + 1);
    Label& entry = labels_[frame];
    if (!entry.ready) {
        if (profile_ && frame < profile_->frames.size()) {
            const FrameInfo& info = profile_->frames[frame];
            entry.text = sanitize(display_label(info, roots_, full_paths_));
            const std::string& name = info.qualname ? *info.qualname : info.function;
            entry.name_size = name == "<module>" ? 0 : static_cast<std::uint32_t>(std::min(entry.text.size(), sanitize(name).size()));
        } else {
            entry.text = fmt::format("(frame {})", frame);
            entry.name_size = static_cast<std::uint32_t>(entry.text.size());
        }
        entry.ready = true;
    }
    return entry;
}

const std::string& ViewerModel::label(FrameId frame) { return label_entry(frame).text; }

std::string ViewerModel::selected_label() {
    if (rows_.empty()) return {};
    return label(rows_[cursor_].frame);
}

std::string ViewerModel::focus_label() {
    if (focus_path_.empty() || root_ == ViewTree::kRoot) return {};
    return label(tree_.frame(root_));
}

Geometry ViewerModel::geometry(std::size_t width) const {
    Geometry g;
    std::size_t cells = 0;
    for (std::size_t i = 1; i < columns_.size(); ++i) {
        g.cell_widths.push_back(cell_width(columns_[i], total(), times_));
        cells += g.cell_widths.back() + Geometry::kGap;
    }
    constexpr std::size_t kMinFunction = 16;
    g.function_width = width > cells + kMinFunction ? width - cells : kMinFunction;
    return g;
}

std::vector<std::string> ViewerModel::header(const Geometry& geometry) const {
    std::vector<std::string> out;
    out.push_back(fit(columns_[0].title, geometry.function_width, options_.unicode));
    for (std::size_t i = 1; i < columns_.size(); ++i) {
        out.push_back(align_right(columns_[i].title, geometry.cell_widths[i - 1]));
    }
    return out;
}

RenderedRow ViewerModel::render(std::size_t index, const Geometry& geometry) {
    RenderedRow out;
    const Row& row = rows_[index];
    std::string text;
    if (layout_ == Layout::Nested) {
        // Indentation takes at most about a third of the column; deeper rows
        // say their level instead.
        const std::size_t max_levels = std::max<std::size_t>(geometry.function_width / 6, 1);
        text.assign(2 * std::min<std::size_t>(row.depth, max_levels), ' ');
        if (row.depth > max_levels) text += fmt::format("[{}] ", row.depth + 1);
        if (!row.has_children) {
            text += "  ";
        } else if (options_.unicode) {
            text += row.expanded ? "\u25be " : "\u25b8 ";
        } else {
            text += row.expanded ? "- " : "+ ";
        }
    }
    const Label& label = label_entry(row.frame);
    out.label_begin = text.size();
    text += label.text;
    out.function = fit(text, geometry.function_width, options_.unicode);
    out.label_begin = std::min(out.label_begin, out.function.size());
    out.location_begin = std::min(out.label_begin + label.name_size, out.function.size());
    const std::uint64_t all = total();
    for (std::size_t i = 1; i < columns_.size(); ++i) {
        out.cells.push_back(align_right(format_cell(columns_[i].field, row.stats, all, times_, options_.unicode),
                                        geometry.cell_widths[i - 1]));
    }
    return out;
}

std::size_t ViewerModel::memory_bytes() const {
    std::size_t labels = labels_.capacity() * sizeof(Label);
    for (const Label& l : labels_) labels += l.text.capacity() > 15 ? l.text.capacity() : 0;
    return sizeof(*this) + tree_.memory_bytes() + rows_.capacity() * sizeof(Row) + expanded_.memory_bytes() +
           labels + (work_.capacity() * sizeof(work_[0])) + siblings_.capacity() * sizeof(NodeId) +
           sources_.capacity() * sizeof(ViewTree::Source) + trie_of_.capacity() * sizeof(std::uint32_t) +
           (focus_path_.capacity() + cursor_path_.capacity()) * sizeof(FrameId);
}

}  // namespace profiling::tui
