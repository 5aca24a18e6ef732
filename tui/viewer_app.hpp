// The interactive viewer: a ViewerModel drawn with ncurses, driven by keys.
//
//   q quit                     space pause/resume (live)
//   \ NESTED / FLAT            ↑ ↓ PgUp PgDn Home End (also k j g G) move
//   → expand (l)               ← fold, or go to the parent (h)
//   * expand everything below  > hotspot
//   enter focus (the row becomes the root)
//   esc defocus                [ ] sort column
//   t T thread (all / each)    ? help line
#pragma once

#include "profiling/profile.hpp"
#include "src/commands/record_command.hpp"

#include <memory>
#include <string>

namespace profiling::tui {

// Shows a saved profile until the user quits. `source` names it (the file).
// Throws profiling::Error, before drawing anything, when the terminal cannot
// be driven.
void view_profile(std::shared_ptr<const Profile> profile, const std::string& source);

// Throws profiling::Error unless stdin and stdout are a terminal the viewer
// can drive: checked before launching or attaching anything.
void require_terminal();

// Shows a live profile, refreshed about once a second, until the user quits
// (q, Ctrl-C, SIGTERM, SIGHUP). Sampling goes on meanwhile; the caller stops it.
void view_live(const LiveFeed& feed);

}  // namespace profiling::tui
