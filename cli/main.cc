// The `rootfarm` command: serve, image, client, status.

#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "cli/serve.h"
#include "core/config.h"
#include "core/log.h"

namespace {

constexpr int kConfigError = 2;

}  // namespace

int main(int argc, char** argv) {
    using namespace rootfarm;
    CLI::App app{
        "rootfarm: network-boot many Raspberry Pis from one golden root, each with its "
        "own copy-on-write overlay"};
    app.require_subcommand(1);
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
    auto* client_reset = client->add_subcommand(
        "reset", "delete a client's overlay (server stopped or client off): pristine next boot");
    client_reset->add_option("MAC", mac_text, "the Pi's MAC address")->required();
    auto* client_diff = client->add_subcommand("diff", "show what a client changed");
    client_diff->add_option("MAC", mac_text, "the Pi's MAC address")->required();

    auto* status = app.add_subcommand("status", "clients, boot phase, overlay sizes");

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
        if (client_add->parsed()) return cli::client_add(config_path, new_client);
        if (client_reset->parsed()) return cli::client_reset(config, mac_text);
        if (client_diff->parsed()) return cli::client_diff(config, mac_text);
        if (status->parsed()) return cli::status(config);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "rootfarm: %s\n", e.what());
        return 1;
    }
    return 1;
}
