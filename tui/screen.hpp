// The terminal, through ncursesw: taken over while a Screen lives, given back
// as it was when it goes — on return, on exceptions, on SIGINT/SIGTERM/
// SIGHUP/SIGQUIT (which become a quit request) and on crash signals.
#pragma once

#include <string_view>

namespace profiling::tui {

enum class Style {
    Normal,
    Title,          // the first status line
    Info,           // the second status line
    Header,         // column titles
    HeaderSorted,   // the title of the sort column
    Paused,         // the status lines while paused
    Cursor,         // the selected row
    Location,       // " (file:line)" after a function's name
    Dim,            // zeros, indentation markers
    Hot,            // a percentage >= 50
    Warm,           // >= 20
    Mild,           // >= 5
    Footer,
    Help,
    Alert,          // a message that needs reading: the program exited
};

struct Key {
    enum Kind { None, Char, Special } kind = None;
    int code = 0;   // Char: a code point; Special: a KEY_* value of ncurses
};

class Screen {
public:
    // Throws profiling::Error when stdin/stdout are not a terminal ncurses
    // can drive (TERM unknown, not a tty).
    Screen();
    ~Screen();
    Screen(const Screen&) = delete;
    Screen& operator=(const Screen&) = delete;

    int height() const;
    int width() const;
    bool unicode() const { return unicode_; }   // the locale's charset is UTF-8
    bool colors() const { return colors_; }

    // Waits up to `timeout_ms` for a key.
    Key read_key(int timeout_ms);

    void clear_frame();
    // Draws UTF-8 `text` at (y, x); what passes the right edge is cut.
    void draw(int y, int x, std::string_view text, Style style);
    // Paints row y from x to the right edge with spaces in `style`.
    void fill(int y, int x, Style style);
    void present();
    // Forgets what is on the terminal, so the next present() redraws all
    // (after a resize).
    void invalidate();

private:
    void* screen_ = nullptr;   // ncurses' SCREEN
    bool unicode_ = false;
    bool colors_ = false;
};

// Throws profiling::Error (one line, with a hint) unless stdin and stdout
// are a terminal the viewer can drive (TERM known, cursor addressing).
void require_terminal();

// True once SIGINT, SIGTERM, SIGHUP or SIGQUIT arrived while a Screen lived.
bool quit_requested();

}  // namespace profiling::tui
