#pragma once

// The Pis as an operator reads them: one JSON document shared by `rootfarm status --json`, the
// control socket and the HTTP /api/clients, and the table `rootfarm status` prints.

#include <string>
#include <vector>

#include "clients/clients.h"

namespace rootfarm {

// {"server": {"running": true}, "pis": [{"mac": ..., "ip": ..., "serial": ..., "model": ...,
//  "hostname": ..., "image": ..., "overlay_image": ..., "overlay_bytes": N, "phase": "up",
//  "phase_since": "2026-12-07T05:40:01Z", "last_boot": ..., "boots": N,
//  "last_boot_seconds": 12.3, "hint": "...", "timeline": [{"phase": ..., "start": ...,
//  "seconds": 1.5}, ...]}, ...]}
// Times are UTC, RFC 3339; a time never seen, an unknown address and an unset duration are
// left out.
std::string status_json(const std::vector<PiStatus>& pis, bool running);

// The table: MAC, IP, serial, model, hostname, image, phase and since when, last boot, overlay
// size, hint. `now` makes "since" relative ("3 min ago").
std::string status_table(const std::vector<PiStatus>& pis,
                         std::chrono::system_clock::time_point now);

// 1536 -> "1.5 KiB".
std::string human_bytes(uint64_t bytes);

}  // namespace rootfarm
