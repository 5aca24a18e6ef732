#include "tui/screen.hpp"

#include "profiling/errors.hpp"
#include "tui/text.hpp"

#include <clocale>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <langinfo.h>
#include <string>
#include <unistd.h>

// ncursesw with the wide-character API.
#ifndef NCURSES_WIDECHAR
#define NCURSES_WIDECHAR 1
#endif
#include <curses.h>
#include <term.h>

namespace profiling::tui {

namespace {

volatile std::sig_atomic_t g_quit = 0;
volatile std::sig_atomic_t g_screen_active = 0;

constexpr int kQuitSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
constexpr int kCrashSignals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};

struct sigaction g_previous_quit[std::size(kQuitSignals)];
struct sigaction g_previous_crash[std::size(kCrashSignals)];

extern "C" void on_quit_signal(int) { g_quit = 1; }

extern "C" void on_crash_signal(int sig) {
    // Not async-signal-safe, but the process is dying anyway: leaving the
    // terminal in raw mode on the alternate screen is the worse outcome.
    if (g_screen_active) {
        g_screen_active = 0;
        endwin();
    }
    std::signal(sig, SIG_DFL);
    ::raise(sig);
}

void install_handlers() {
    g_quit = 0;
    struct sigaction action {};
    sigemptyset(&action.sa_mask);
    action.sa_handler = on_quit_signal;
    action.sa_flags = 0;   // no SA_RESTART: a signal wakes the key wait
    for (std::size_t i = 0; i < std::size(kQuitSignals); ++i) ::sigaction(kQuitSignals[i], &action, &g_previous_quit[i]);
    action.sa_handler = on_crash_signal;
    action.sa_flags = SA_RESETHAND | SA_NODEFER;
    for (std::size_t i = 0; i < std::size(kCrashSignals); ++i) ::sigaction(kCrashSignals[i], &action, &g_previous_crash[i]);
}

void restore_handlers() {
    for (std::size_t i = 0; i < std::size(kQuitSignals); ++i) ::sigaction(kQuitSignals[i], &g_previous_quit[i], nullptr);
    for (std::size_t i = 0; i < std::size(kCrashSignals); ++i) ::sigaction(kCrashSignals[i], &g_previous_crash[i], nullptr);
}

enum Pair : short { kTitle = 1, kInfo, kHeader, kSorted, kPaused, kLocation, kHot, kWarm, kMild, kFooter, kAlert, kHelp };

attr_t attributes(Style style, bool colors) {
    if (!colors) {
        switch (style) {
            case Style::Normal: return A_NORMAL;
            case Style::Title: return A_REVERSE | A_BOLD;
            case Style::Info: return A_NORMAL;
            case Style::Header: return A_REVERSE;
            case Style::HeaderSorted: return A_REVERSE | A_BOLD | A_UNDERLINE;
            case Style::Paused: return A_REVERSE | A_BOLD;
            case Style::Cursor: return A_REVERSE;
            case Style::Location: return A_NORMAL;
            case Style::Dim: return A_DIM;
            case Style::Hot: return A_BOLD;
            case Style::Warm: return A_BOLD;
            case Style::Mild: return A_NORMAL;
            case Style::Footer: return A_REVERSE;
            case Style::Help: return A_NORMAL;
            case Style::Alert: return A_REVERSE | A_BOLD;
        }
        return A_NORMAL;
    }
    switch (style) {
        case Style::Normal: return A_NORMAL;
        case Style::Title: return COLOR_PAIR(kTitle) | A_BOLD;
        case Style::Info: return COLOR_PAIR(kInfo);
        case Style::Header: return COLOR_PAIR(kHeader);
        case Style::HeaderSorted: return COLOR_PAIR(kSorted) | A_BOLD | A_UNDERLINE;
        case Style::Paused: return COLOR_PAIR(kPaused) | A_BOLD;
        case Style::Cursor: return A_REVERSE;
        case Style::Location: return COLOR_PAIR(kLocation);
        case Style::Dim: return A_DIM;
        case Style::Hot: return COLOR_PAIR(kHot) | A_BOLD;
        case Style::Warm: return COLOR_PAIR(kWarm);
        case Style::Mild: return COLOR_PAIR(kMild);
        case Style::Footer: return COLOR_PAIR(kFooter);
        case Style::Help: return COLOR_PAIR(kHelp);
        case Style::Alert: return COLOR_PAIR(kAlert) | A_BOLD;
    }
    return A_NORMAL;
}

}  // namespace

bool quit_requested() { return g_quit != 0; }

void require_terminal() {
    if (!::isatty(STDIN_FILENO) || !::isatty(STDOUT_FILENO)) {
        throw Error(ErrorKind::BadInput, "the viewer needs a terminal (stdin and stdout are not both one)");
    }
    // A terminal that cannot move the cursor (TERM=dumb) would get garbage.
    const char* term = std::getenv("TERM");
    const std::string which = std::string("(TERM=") + (term ? term : "unset") + ")";
    const char* hint = "set TERM to your terminal's type, e.g. TERM=xterm-256color";
    int setup_error = 0;
    if (setupterm(nullptr, STDOUT_FILENO, &setup_error) != OK) {
        throw Error(ErrorKind::BadInput, "cannot drive this terminal " + which, hint);
    }
    const char* cup = tigetstr(const_cast<char*>("cup"));
    const bool addressable = cup != nullptr && cup != reinterpret_cast<const char*>(-1);
    del_curterm(cur_term);
    if (!addressable) throw Error(ErrorKind::BadInput, "this terminal cannot move the cursor " + which, hint);
}

Screen::Screen() {
    require_terminal();
    // Wide characters need the user's character set; numbers stay "1.5".
    std::setlocale(LC_ALL, "");
    std::setlocale(LC_NUMERIC, "C");
    const char* codeset = ::nl_langinfo(CODESET);
    unicode_ = codeset && (std::strcmp(codeset, "UTF-8") == 0 || std::strcmp(codeset, "utf8") == 0);

    // Ours before ncurses': it then leaves SIGINT/SIGTERM alone.
    install_handlers();
    screen_ = newterm(nullptr, stdout, stdin);
    if (screen_ == nullptr) {
        restore_handlers();
        const char* term = std::getenv("TERM");
        throw Error(ErrorKind::BadInput, std::string("cannot drive this terminal (TERM=") + (term ? term : "unset") + ")",
                    "set TERM to your terminal's type, e.g. TERM=xterm-256color");
    }
    g_screen_active = 1;
    cbreak();
    noecho();
    nonl();
    intrflush(stdscr, FALSE);
    keypad(stdscr, TRUE);
    set_escdelay(25);
    curs_set(0);
    leaveok(stdscr, TRUE);
    if (has_colors() && start_color() == OK) {
        colors_ = true;
        short background = use_default_colors() == OK ? -1 : COLOR_BLACK;
        init_pair(kTitle, COLOR_WHITE, COLOR_BLUE);
        init_pair(kInfo, COLOR_CYAN, background);
        init_pair(kHeader, COLOR_BLACK, COLOR_CYAN);
        init_pair(kSorted, COLOR_BLACK, COLOR_CYAN);
        init_pair(kPaused, COLOR_BLACK, COLOR_YELLOW);
        init_pair(kLocation, COLOR_CYAN, background);
        init_pair(kHot, COLOR_RED, background);
        init_pair(kWarm, COLOR_YELLOW, background);
        init_pair(kMild, COLOR_GREEN, background);
        init_pair(kFooter, COLOR_BLACK, COLOR_WHITE);
        init_pair(kAlert, COLOR_WHITE, COLOR_RED);
        init_pair(kHelp, COLOR_YELLOW, background);
    }
}

Screen::~Screen() {
    g_screen_active = 0;
    endwin();
    delscreen(static_cast<SCREEN*>(screen_));
    restore_handlers();
}

int Screen::height() const { return LINES; }
int Screen::width() const { return COLS; }

Key Screen::read_key(int timeout_ms) {
    timeout(timeout_ms);
    wint_t ch = 0;
    int got = get_wch(&ch);
    if (got == ERR) return Key{};
    if (got == KEY_CODE_YES) return Key{Key::Special, static_cast<int>(ch)};
    return Key{Key::Char, static_cast<int>(ch)};
}

void Screen::clear_frame() { werase(stdscr); }

void Screen::draw(int y, int x, std::string_view text, Style style) {
    if (y < 0 || y >= LINES || x >= COLS) return;
    attr_t attr = attributes(style, colors_);
    attrset(attr);
    // addnstr would wrap what passes the right edge onto the next line.
    std::string_view shown = clip(text, static_cast<std::size_t>(COLS - x));
    mvaddnstr(y, x, shown.data(), static_cast<int>(shown.size()));
    attrset(A_NORMAL);
}

void Screen::fill(int y, int x, Style style) {
    if (y < 0 || y >= LINES || x >= COLS) return;
    attrset(attributes(style, colors_));
    move(y, x);
    for (int i = x; i < COLS; ++i) addch(' ');
    attrset(A_NORMAL);
}

void Screen::present() { refresh(); }

void Screen::invalidate() { clearok(curscr, TRUE); }

}  // namespace profiling::tui
