#include "tui/viewer_app.hpp"

#include "tui/screen.hpp"
#include "tui/text.hpp"
#include "tui/viewer_model.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>

#include <curses.h>

namespace profiling::tui {

namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kRefresh = std::chrono::seconds(1);   // live updates
constexpr int kTitleRows = 3;                        // two status lines and the column titles
constexpr int kMessageMs = 3000;

std::int64_t unix_millis() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string base_name(const std::string& path) {
    auto slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

class App {
public:
    App(const LiveFeed* feed, std::string source)
        : feed_(feed), source_(std::move(source)), model_(ViewerOptions{screen_.unicode(), 10}) {}

    void run(std::shared_ptr<const Profile> initial);

private:
    enum class Action { None, Redraw, Quit };

    void poll_feed(bool force);
    void draw();
    void draw_status();
    void draw_rows(int first_line, int count);
    void draw_footer(int line, int help_lines);
    std::vector<std::string> help_lines(int width) const;
    std::string breadcrumb(std::size_t width);
    Action handle(const Key& key);
    void say(std::string message) {
        message_ = std::move(message);
        message_until_ = Clock::now() + std::chrono::milliseconds(kMessageMs);
    }
    std::string sep() const { return screen_.unicode() ? " \u00b7 " : " | "; }

    const LiveFeed* feed_;   // null: a saved profile
    std::string source_;
    Screen screen_;
    ViewerModel model_;
    bool help_ = false;
    std::optional<std::string> ended_;
    std::optional<std::string> notice_;   // the feed's passing condition
    Clock::time_point next_poll_{};
    std::string message_;
    Clock::time_point message_until_{};
    // The snapshot the model let go of, freed once the new frame is drawn.
    std::shared_ptr<const Profile> retired_;
};

void App::poll_feed(bool force) {
    if (!feed_ || ended_) return;
    const auto now = Clock::now();
    if (feed_->notice) {
        auto notice = feed_->notice();
        if (notice != notice_) {
            notice_ = std::move(notice);
            force = true;
        }
    }
    if (auto why = feed_->finished ? feed_->finished() : std::nullopt) {
        ended_ = *why;
        force = true;
    }
    if (!force && now < next_poll_) return;
    next_poll_ = now + kRefresh;
    retired_ = model_.offer(std::make_shared<const Profile>(feed_->snapshot()));
}

void App::run(std::shared_ptr<const Profile> initial) {
    if (initial) retired_ = model_.offer(std::move(initial));
    poll_feed(true);
    bool dirty = true;
    while (!quit_requested()) {
        const bool was_ended = ended_.has_value();
        const auto before = next_poll_;
        poll_feed(false);
        if (next_poll_ != before || ended_.has_value() != was_ended) dirty = true;
        if (!message_.empty() && Clock::now() >= message_until_) {
            message_.clear();
            dirty = true;
        }
        if (dirty) {
            draw();
            dirty = false;
        }
        retired_.reset();
        int wait_ms = 250;
        if (feed_ && !ended_) {
            auto until = std::chrono::duration_cast<std::chrono::milliseconds>(next_poll_ - Clock::now()).count();
            wait_ms = static_cast<int>(std::clamp<long long>(until, 10, 100));
        }
        Key key = screen_.read_key(wait_ms);
        if (key.kind == Key::None) continue;
        Action action = handle(key);
        if (action == Action::Quit) break;
        if (action == Action::Redraw) dirty = true;
        // Take every key already typed before drawing: holding ↓ stays smooth.
        for (Key more = screen_.read_key(0); more.kind != Key::None; more = screen_.read_key(0)) {
            action = handle(more);
            if (action == Action::Quit) return;
            if (action == Action::Redraw) dirty = true;
        }
    }
}

App::Action App::handle(const Key& key) {
    if (key.kind == Key::Special) {
        switch (key.code) {
            case KEY_UP: model_.move(-1); return Action::Redraw;
            case KEY_DOWN: model_.move(1); return Action::Redraw;
            case KEY_PPAGE: model_.page_up(); return Action::Redraw;
            case KEY_NPAGE: model_.page_down(); return Action::Redraw;
            case KEY_HOME: model_.home(); return Action::Redraw;
            case KEY_END: model_.end(); return Action::Redraw;
            case KEY_RIGHT: model_.expand(); return Action::Redraw;
            case KEY_LEFT: model_.fold(); return Action::Redraw;
            case KEY_ENTER: model_.focus(); return Action::Redraw;
            case KEY_RESIZE: screen_.invalidate(); return Action::Redraw;
            default: return Action::None;
        }
    }
    switch (key.code) {
        case 'q':
        case 'Q':
        case 3:   // Ctrl-C, should the terminal deliver it as a key
            return Action::Quit;
        case ' ':
            if (!feed_) {
                say("a saved profile does not change: nothing to pause");
            } else {
                model_.toggle_pause();
                if (!model_.paused()) poll_feed(true);   // show the latest at once
            }
            return Action::Redraw;
        case '\\': model_.toggle_layout(); return Action::Redraw;
        case 'k': model_.move(-1); return Action::Redraw;
        case 'j': model_.move(1); return Action::Redraw;
        case 'g': model_.home(); return Action::Redraw;
        case 'G': model_.end(); return Action::Redraw;
        case 'l': model_.expand(); return Action::Redraw;
        case 'h': model_.fold(); return Action::Redraw;
        case '>': model_.hotspot(); return Action::Redraw;
        case '*': model_.expand_subtree(); return Action::Redraw;
        case '\n':
        case '\r': model_.focus(); return Action::Redraw;
        case 27: model_.defocus(); return Action::Redraw;
        case '[': model_.cycle_sort(-1); return Action::Redraw;
        case ']': model_.cycle_sort(1); return Action::Redraw;
        case 'p': model_.toggle_full_paths(); return Action::Redraw;
        case 't': model_.cycle_thread(1); return Action::Redraw;
        case 'T': model_.cycle_thread(-1); return Action::Redraw;
        case '?': help_ = !help_; return Action::Redraw;
        case 12: screen_.invalidate(); return Action::Redraw;   // Ctrl-L
        default: return Action::None;
    }
}

std::vector<std::string> App::help_lines(int width) const {
    const bool u = screen_.unicode();
    std::vector<std::string> items = {
        "q quit",
        feed_ ? "space pause/resume" : "",
        "\\ nested/flat",
        u ? "\u2191\u2193 PgUp PgDn Home End move" : "up/down PgUp PgDn Home End move",
        u ? "\u2192 expand" : "right expand",
        u ? "\u2190 fold/parent" : "left fold/parent",
        "* expand all below",
        "> hotspot",
        "enter focus",
        "esc defocus",
        "[ ] sort column",
        "t T thread",
        "p full paths",
        "? close help",
    };
    if (feed_ && !feed_->output_path.empty()) items.push_back("program output: " + sanitize(feed_->output_path));
    std::vector<std::string> lines;
    std::string line;
    for (const std::string& item : items) {
        if (item.empty()) continue;
        std::string next = line.empty() ? " " + item : line + "   " + item;
        if (!line.empty() && display_width(next) > static_cast<std::size_t>(width)) {
            lines.push_back(line);
            next = " " + item;
        }
        line = next;
    }
    if (!line.empty()) lines.push_back(line);
    return lines;
}

std::string App::breadcrumb(std::size_t width) {
    const Profile* profile = model_.shown();
    if (!profile || model_.rows().empty()) return {};
    if (model_.layout() == Layout::Flat) return model_.selected_label();
    const std::vector<FrameId> path = model_.selected_path();
    const std::string arrow = screen_.unicode() ? " \u203a " : " > ";
    auto name = [&](FrameId f) {
        const FrameInfo& info = profile->frames[f];
        const std::string& n = info.qualname ? *info.qualname : info.function;
        return sanitize(n == "<module>" ? base_name(info.file) : n);
    };
    // The innermost frames matter most: build from the end, cut the front.
    std::string out = model_.label(path.back());
    for (std::size_t i = path.size() - 1; i-- > 0;) {
        std::string next = name(path[i]) + arrow + out;
        if (display_width(next) + 2 > width) {
            out = (screen_.unicode() ? "\u2026" : "...") + arrow + out;
            break;
        }
        out = std::move(next);
    }
    return out;
}

void App::draw_status() {
    const int width = screen_.width();
    const Profile* latest = model_.latest();
    const Profile* shown = model_.shown();
    const ProfileInfo* info = shown ? &shown->info : nullptr;

    // Line 0: what is profiled, and whether the numbers move.
    std::string state;
    Style title_style = Style::Title;
    if (!feed_) {
        state = "SAVED";
    } else if (model_.paused()) {
        state = "PAUSED";
        title_style = Style::Paused;
        if (latest && shown) {
            const std::uint64_t behind = latest->total_samples() - std::min(latest->total_samples(), shown->total_samples());
            state += fmt::format(" +{} new samples", behind);
        }
    } else if (ended_) {
        state = "ENDED";
    } else {
        state = "LIVE";
    }
    std::string title = " profiling";
    if (info) {
        title += fmt::format("{}pid {}{}{}", sep(), info->pid, sep(), sanitize(info->command));
    } else if (!source_.empty()) {
        title += sep() + sanitize(source_);
    }
    state = " " + state + " ";
    screen_.fill(0, 0, title_style);
    const std::size_t state_width = display_width(state);
    const std::size_t room = static_cast<std::size_t>(width) > state_width ? static_cast<std::size_t>(width) - state_width : 0;
    screen_.draw(0, 0, fit(title, room, screen_.unicode()), title_style);
    screen_.draw(0, static_cast<int>(room), state, title_style);

    // Line 1: interpreter, mode, samples, threads, layout, sort, rate achieved.
    std::string line;
    if (info) {
        line = " Python " + (info->python_version.empty() ? std::string("?") : sanitize(info->python_version));
        if (info->kind == "tracing") {   // "tracing, thread timer"
            line += sep() + "tracing, " + sanitize(info->mode.empty() ? "?" : info->mode) + " timer";
        } else {                          // "cpu sampling at 1000 Hz"
            line += sep() + sanitize(info->mode.empty() ? "?" : info->mode) + " " + sanitize(info->kind);
        }
        if (info->rate_hz > 0) line += fmt::format(" at {:g} Hz", info->rate_hz);
        const bool tracing = info->kind == "tracing";
        // Tracing trees hold nanoseconds, not samples.
        auto amount = [&](std::uint64_t n) {
            return tracing ? format_duration_ns(static_cast<double>(n), screen_.unicode()) : fmt::format("{}", n);
        };
        const std::uint64_t all = shown->total_samples();
        const char* unit = tracing ? "traced" : "samples";
        if (model_.thread()) {
            line += sep() + fmt::format("{} of {} {}", amount(model_.total()), amount(all), unit);
        } else {
            line += sep() + fmt::format("{} {}", amount(all), unit);
        }
        line += sep() + model_.thread_title();
        line += sep() + std::string(model_.layout() == Layout::Nested ? "NESTED" : "FLAT");
        line += sep() + "sort: " + std::string(model_.columns()[model_.sort_column()].name);
        // The rate is the sampler's, which goes on while the view is paused.
        const ProfileInfo& now = latest ? latest->info : *info;
        double seconds = now.duration_s;
        if (seconds <= 0 && feed_ && now.started_unix_ms > 0) {   // live: so far
            seconds = static_cast<double>(unix_millis() - now.started_unix_ms) / 1000.0;
        }
        if (tracing && seconds > 0) {
            line += sep() + fmt::format("over {:.1f} s", seconds);
        } else if (seconds > 0) {
            line += sep() + fmt::format("{:.0f}/s achieved over {:.1f} s", static_cast<double>(now.ticks) / seconds, seconds);
        }
    } else {
        line = " waiting for the first samples";
    }
    if (model_.focused()) line += sep() + "focus: " + model_.focus_label();
    screen_.fill(1, 0, Style::Info);
    screen_.draw(1, 0, line, Style::Info);
}

Style heat(double percent) {
    if (percent >= 50) return Style::Hot;
    if (percent >= 20) return Style::Warm;
    if (percent >= 5) return Style::Mild;
    return Style::Normal;
}

void App::draw_rows(int first_line, int count) {
    const auto width = static_cast<std::size_t>(screen_.width());
    const Geometry geometry = model_.geometry(width);
    const auto columns = model_.columns();

    // Column titles.
    std::vector<std::string> titles = model_.header(geometry);
    screen_.fill(first_line - 1, 0, Style::Header);
    int x = 0;
    for (std::size_t i = 0; i < titles.size(); ++i) {
        if (i > 0) x += static_cast<int>(Geometry::kGap);
        screen_.draw(first_line - 1, x, titles[i], i == model_.sort_column() ? Style::HeaderSorted : Style::Header);
        x += static_cast<int>(i == 0 ? geometry.function_width : geometry.cell_widths[i - 1]);
    }

    const auto& rows = model_.rows();
    if (rows.empty()) {
        const char* text = !model_.shown() ? " waiting for the first samples..."
                           : model_.total() == 0 ? " no samples yet (in cpu mode only threads running Python count)"
                                                 : " nothing to show";
        screen_.draw(first_line, 0, text, Style::Dim);
        return;
    }
    const std::uint64_t total = model_.total();
    for (int i = 0; i < count; ++i) {
        const std::size_t index = model_.top() + static_cast<std::size_t>(i);
        if (index >= rows.size()) break;
        const int y = first_line + i;
        RenderedRow row = model_.render(index, geometry);
        if (index == model_.cursor()) {
            std::string line = row.function;
            for (const std::string& cell : row.cells) line += std::string(Geometry::kGap, ' ') + cell;
            screen_.fill(y, 0, Style::Cursor);
            screen_.draw(y, 0, line, Style::Cursor);
            continue;
        }
        std::string_view text = row.function;
        const std::string_view lead = text.substr(0, row.label_begin);
        const std::string_view name = text.substr(row.label_begin, row.location_begin - row.label_begin);
        const std::string_view location = text.substr(row.location_begin);
        int at = 0;
        screen_.draw(y, at, lead, Style::Dim);
        at += static_cast<int>(display_width(lead));
        screen_.draw(y, at, name, Style::Normal);
        at += static_cast<int>(display_width(name));
        screen_.draw(y, at, location, Style::Location);
        at = static_cast<int>(geometry.function_width);
        for (std::size_t c = 0; c < row.cells.size(); ++c) {
            at += static_cast<int>(Geometry::kGap);
            const Row& r = rows[index];
            Style style = Style::Normal;
            const Field field = columns[c + 1].field;
            const double value = sort_value(field, r.stats);
            if (value == 0) {
                style = Style::Dim;
            } else if ((field == Field::OwnPercent || field == Field::DeepPercent) && total > 0) {
                style = heat(value * 100.0 / static_cast<double>(total));
            }
            screen_.draw(y, at, row.cells[c], style);
            at += static_cast<int>(geometry.cell_widths[c]);
        }
    }
}

void App::draw_footer(int line, int help_count) {
    const int width = screen_.width();
    if (help_count > 0) {
        std::vector<std::string> lines = help_lines(width);
        for (int i = 0; i < help_count && i < static_cast<int>(lines.size()); ++i) {
            screen_.fill(line - help_count + i, 0, Style::Help);
            screen_.draw(line - help_count + i, 0, lines[static_cast<std::size_t>(i)], Style::Help);
        }
    }
    std::string right;
    if (feed_ && !feed_->output_path.empty()) right = "output: " + sanitize(feed_->output_path) + sep();
    right += help_ ? "? close help " : "? help ";
    Style style = Style::Footer;
    std::string left;
    if (!message_.empty()) {
        left = " " + message_;
        style = Style::Alert;
    } else if (ended_) {
        left = " " + sanitize(*ended_) + (model_.paused() ? "" : "; the profile is final") + sep() + "q quits";
        style = Style::Alert;
    } else if (notice_) {
        left = " " + sanitize(*notice_);
        style = Style::Alert;
    } else {
        left = " " + breadcrumb(static_cast<std::size_t>(std::max(0, width - static_cast<int>(display_width(right)) - 2)));
    }
    screen_.fill(line, 0, style);
    const std::size_t right_width = display_width(right);
    const std::size_t room = static_cast<std::size_t>(width) > right_width + 1 ? static_cast<std::size_t>(width) - right_width - 1 : 0;
    screen_.draw(line, 0, fit(left, room, screen_.unicode()), style);
    screen_.draw(line, static_cast<int>(room) + 1, right, style);
}

void App::draw() {
    screen_.clear_frame();
    const int height = screen_.height();
    const int width = screen_.width();
    if (height < kTitleRows + 3 || width < 30) {
        screen_.draw(0, 0, "terminal too small", Style::Alert);
        screen_.present();
        return;
    }
    int help_count = help_ ? static_cast<int>(help_lines(width).size()) : 0;
    help_count = std::min(help_count, height - kTitleRows - 3);
    const int footer = height - 1;
    const int rows = footer - help_count - kTitleRows;
    model_.set_viewport(static_cast<std::size_t>(rows));
    draw_status();
    draw_rows(kTitleRows, rows);
    draw_footer(footer, help_count);
    screen_.present();
}

}  // namespace

void view_profile(std::shared_ptr<const Profile> profile, const std::string& source) {
    App app(nullptr, source);
    app.run(std::move(profile));
}

void view_live(const LiveFeed& feed) {
    App app(&feed, feed.source);
    app.run(nullptr);
}

}  // namespace profiling::tui
