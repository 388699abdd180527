// The `rootfarm` command: serve, image, client, status.

#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "cli/doctor.h"
#include "cli/serve.h"
#include "core/config.h"
#include "core/log.h"
#include "core/version.h"

namespace {

constexpr int kConfigError = 2;

}  // namespace

int main(int argc, char** argv) {
    using namespace rootfarm;
    CLI::App app{
        "rootfarm: network-boot many Raspberry Pis from one golden root, each with its "
        "own copy-on-write overlay"};
    app.require_subcommand(1);
    app.set_version_flag("--version", std::string(rootfarm_version()));
    app.fallthrough();  // --config may also follow the subcommand
    std::string config_path = "/etc/rootfarm/rootfarm.toml";
    app.add_option("-c,--config", config_path, "configuration file (TOML)")->capture_default_str();

    auto* serve = app.add_subcommand("serve", "run the DHCP, TFTP and NFS services");

    auto* image = app.add_subcommand("image", "manage golden images");
    image->require_subcommand(1);
    auto* image_list = image->add_subcommand("list", "list imported images");
    std::string import_source, import_name;
    auto* image_import = image->add_subcommand("import", "import a Raspberry Pi OS .img or a tree");
    image_import->add_option("SOURCE", import_source, ".img file or directory")->required();
    image_import->add_option("NAME", import_name, "image name")->required();
    bool import_replace = false;
    image_import->add_flag("--replace", import_replace,
                           "replace an existing image of that name (refused while in use)");
    std::string rm_name;
    auto* image_rm = image->add_subcommand("rm", "remove an image no client uses");
    image_rm->add_option("NAME", rm_name, "image name")->required();

    auto* client = app.add_subcommand("client", "manage clients (Pis)");
    client->require_subcommand(1);
    auto* client_list = client->add_subcommand("list", "list clients and their overlays");
    std::string mac_text;
    auto* client_add = client->add_subcommand("add", "add a [[client]] to the configuration file");
    cli::NewClient new_client;
    client_add->add_option("MAC", new_client.mac, "the Pi's MAC address")->required();
    client_add->add_option("--ip", new_client.ip, "static IPv4 address");
    client_add->add_option("--serial", new_client.serial, "the Pi's serial (hex)");
    client_add->add_option("--hostname", new_client.hostname, "default pi-<serial>");
    client_add->add_option("--image", new_client.image, "default [defaults] image");
    client_add->add_flag("--root-squash", new_client.root_squash, "map the Pi's root to nobody");
    auto* client_rm = client->add_subcommand(
        "rm", "remove a [[client]] from the configuration file; a running server refuses it");
    client_rm->add_option("MAC", mac_text, "the Pi's MAC address")->required();
    auto* client_set = client->add_subcommand(
        "set", "change keys of a [[client]]; a new image takes effect at the Pi's next boot");
    client_set->add_option("MAC", new_client.mac, "the Pi's MAC address")->required();
    client_set->add_option("--ip", new_client.ip, "static IPv4 address");
    client_set->add_option("--serial", new_client.serial, "the Pi's serial (hex)");
    client_set->add_option("--hostname", new_client.hostname, "its host name");
    client_set->add_option("--image", new_client.image, "its image");
    client_set->add_option("--root-squash", new_client.root_squash, "true or false")
        ->each([&](const std::string&) { new_client.root_squash_set = true; });
    bool reset_force = false;
    auto* client_reset = client->add_subcommand(
        "reset",
        "drop a Pi's overlay: it boots the pristine image next time. A running server does it at "
        "once when the Pi is off, between boots or idle, and refuses while its root is mounted "
        "and in use");
    client_reset->add_option("MAC", mac_text, "the Pi's MAC address")->required();
    client_reset->add_flag("--force", reset_force,
                           "reset even while the Pi runs from it: its open files and current "
                           "directories go stale (ESTALE) until it reboots");
    auto* client_diff = client->add_subcommand("diff", "show what a client changed");
    client_diff->add_option("MAC", mac_text, "the Pi's MAC address")->required();

    auto* status = app.add_subcommand(
        "status", "each Pi's boot phase, last boot, overlay size and what looks wrong");
    bool status_json = false, status_watch = false;
    status->add_flag("--json", status_json, "the same data as JSON");
    status->add_flag("--watch", status_watch, "redraw every 2 seconds until interrupted");
    auto* reload = app.add_subcommand(
        "reload", "make a running server re-read its configuration (as SIGHUP does)");
    auto* doctor = app.add_subcommand(
        "doctor", "check the configuration against this machine and say what to fix");
    double dhcp_wait = 3;
    doctor
        ->add_option("--dhcp-wait", dhcp_wait,
                     "seconds to listen for other DHCP servers' offers ([dhcp] mode = server)")
        ->check(CLI::Range(0.0, 60.0))
        ->capture_default_str();

    CLI11_PARSE(app, argc, argv);

    Config config;
    try {
        config = load_config(config_path);
    } catch (const ConfigError& e) {
        std::fprintf(stderr, "rootfarm: %s\n", e.what());
        return kConfigError;
    }
    setup_logging(config.log.level);

    try {
        if (serve->parsed()) return cli::serve(config);
        if (image_list->parsed()) return cli::image_list(config);
        if (image_import->parsed()) {
            return cli::image_import(config, import_source, import_name, import_replace);
        }
        if (image_rm->parsed()) return cli::image_rm(config, rm_name);
        if (client_list->parsed()) return cli::client_list(config);
        if (client_add->parsed()) {
            new_client.root_squash_set = new_client.root_squash;
            return cli::client_add(config_path, new_client);
        }
        if (client_rm->parsed()) return cli::client_rm(config_path, mac_text);
        if (client_set->parsed()) return cli::client_set(config_path, new_client);
        if (client_reset->parsed()) return cli::client_reset(config, mac_text, reset_force);
        if (reload->parsed()) return cli::reload(config);
        if (doctor->parsed()) {
            return cli::run_doctor(config, {std::chrono::milliseconds(int64_t(dhcp_wait * 1000))});
        }
        if (client_diff->parsed()) return cli::client_diff(config, mac_text);
        if (status->parsed()) return cli::status(config, status_json, status_watch);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "rootfarm: %s\n", e.what());
        return 1;
    }
    return 1;
}
