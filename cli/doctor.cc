#include "cli/doctor.h"

#include <grp.h>
#include <unistd.h>

#include <cstdio>

#include "cli/commands.h"
#include "cli/control.h"
#include "core/log.h"

namespace rootfarm::cli {
namespace {

// Root reads the store as the service user while this object lives: what Store::open and the
// image index create in the state directory belongs to the user serve runs as (not to root, which
// would lock serve out of its own directories), and an image file that user cannot read fails
// here as it would in serve.
class AsServiceUser {
  public:
    explicit AsServiceUser(const std::optional<doctor::ServiceUser>& user) {
        if (!user || user->uid == 0 || ::geteuid() != 0) return;
        groups_.resize(static_cast<size_t>(std::max(::getgroups(0, nullptr), 0)));
        ::getgroups(static_cast<int>(groups_.size()), groups_.data());
        active_ = ::initgroups(user->name.c_str(), user->gid) == 0 && ::setegid(user->gid) == 0 &&
                  ::seteuid(user->uid) == 0;
        if (!active_) restore();
    }
    ~AsServiceUser() {
        if (active_) restore();
    }
    AsServiceUser(const AsServiceUser&) = delete;
    AsServiceUser& operator=(const AsServiceUser&) = delete;

  private:
    void restore() {
        // Back to root: the effective uid first, as only root may change the rest.
        if (::seteuid(0) != 0 || ::setegid(0) != 0 ||
            ::setgroups(groups_.size(), groups_.data()) != 0) {
            std::perror("rootfarm doctor: cannot return to root");
            std::_Exit(1);
        }
    }

    std::vector<gid_t> groups_;
    bool active_ = false;
};

}  // namespace

int run_doctor(const Config& config, const DoctorOptions& options) {
    using namespace doctor;
    // The store logs each image it indexes at info level; the findings are the report.
    if (config.log.level == "info") setup_logging("warn");
    Findings all;
    auto add = [&](Findings more) {
        for (Finding& f : more) {
            std::printf("%s\n", format(f).c_str());
            all.push_back(std::move(f));
        }
        std::fflush(stdout);
    };
    // Someone listening on the control socket is a `rootfarm serve` on this state directory.
    const bool running = control_call(config.state_dir, "").has_value();
    if (running) {
        add({{Severity::kOk, "serve", "a rootfarm serve is running on " + config.state_dir.string(),
              ""}});
    }
    add(check_ports(config, running));
    add(check_network(config));
    const std::optional<ServiceUser> user = service_user();
    add(check_state_dir(config.state_dir, user));
    std::error_code ec;
    if (!std::filesystem::is_directory(config.state_dir, ec)) {
        add({{Severity::kProblem, "image",
              "no images: state_dir " + config.state_dir.string() + " does not exist",
              "rootfarm image import SOURCE " + config.defaults.image}});
    } else {
        AsServiceUser as(user);
        if (auto store = store::Store::open(store_options(config)); !store) {
            add({{Severity::kProblem, "image",
                  "cannot open the store in " + config.state_dir.string() + ": " +
                      store.error().message(),
                  "make the state directory writable (see state-dir above)"}});
        } else {
            add(check_images(config, **store));
            add(check_cmdline(config, **store));
            add(check_fstab(config, **store));
        }
    }
    add(check_foreign_dhcp(config, options.dhcp_wait));

    size_t problems = 0, warnings = 0;
    for (const Finding& f : all) {
        problems += f.severity == Severity::kProblem;
        warnings += f.severity == Severity::kWarning;
    }
    std::printf("%zu problem%s, %zu warning%s\n", problems, problems == 1 ? "" : "s", warnings,
                warnings == 1 ? "" : "s");
    return exit_status(all);
}

}  // namespace rootfarm::cli
