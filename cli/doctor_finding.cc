// How `rootfarm doctor` prints a finding and what its findings make the exit status.

#include "cli/doctor.h"

namespace rootfarm::cli::doctor {

std::string format(const Finding& f) {
    static const char* const kWords[] = {"ok", "warning", "problem"};
    std::string line = kWords[static_cast<int>(f.severity)];
    line.resize(9, ' ');
    line += f.check + ": " + f.message;
    if (!f.fix.empty()) line += " -> fix: " + f.fix;
    return line;
}

int exit_status(const Findings& findings) {
    for (const Finding& f : findings) {
        if (f.severity == Severity::kProblem) return 1;
    }
    return 0;
}

}  // namespace rootfarm::cli::doctor
