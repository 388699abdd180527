# Every dependency comes from a Debian package; a missing one stops the build with the package's
# name. `scripts/install-deps.sh` installs them all.
find_package(PkgConfig QUIET)
if(NOT PkgConfig_FOUND)
    message(FATAL_ERROR "pkg-config not found: install the Debian package 'pkg-config' "
                        "(or run scripts/install-deps.sh)")
endif()

macro(rootfarm_require_pkgconfig target module debian_package)
    pkg_check_modules(${target} QUIET IMPORTED_TARGET ${module})
    if(NOT ${target}_FOUND)
        message(FATAL_ERROR "${module} not found: install the Debian package '${debian_package}' "
                            "(or run scripts/install-deps.sh)")
    endif()
endmacro()

macro(rootfarm_require_cmake package debian_package)
    find_package(${package} CONFIG QUIET)
    if(NOT ${package}_FOUND)
        find_package(${package} QUIET)
    endif()
    if(NOT ${package}_FOUND)
        message(FATAL_ERROR "${package} not found: install the Debian package '${debian_package}' "
                            "(or run scripts/install-deps.sh)")
    endif()
endmacro()

rootfarm_require_pkgconfig(URING liburing liburing-dev)
rootfarm_require_pkgconfig(TIRPC libtirpc libtirpc-dev)
rootfarm_require_pkgconfig(XXHASH libxxhash libxxhash-dev)
rootfarm_require_pkgconfig(EXT2FS ext2fs libext2fs-dev)
rootfarm_require_pkgconfig(LIBNFS libnfs libnfs-dev)
# Raspberry Pi OS images are downloaded as .img.xz; `image import` reads them directly.
rootfarm_require_pkgconfig(LZMA liblzma liblzma-dev)
# sd_notify: `rootfarm serve` tells systemd when it is ready (Type=notify in rootfarm.service).
rootfarm_require_pkgconfig(SYSTEMD libsystemd libsystemd-dev)
# [http] listen: /metrics, the status page and /api/clients. Debian builds it as a shared
# library (libcpp-httplib.so), not the upstream single header.
rootfarm_require_pkgconfig(HTTPLIB cpp-httplib libcpp-httplib-dev)
rootfarm_require_cmake(spdlog libspdlog-dev)
rootfarm_require_cmake(tomlplusplus libtomlplusplus-dev)
rootfarm_require_cmake(CLI11 libcli11-dev)
rootfarm_require_cmake(GTest libgtest-dev)
rootfarm_require_cmake(benchmark libbenchmark-dev)
find_package(Threads REQUIRED)
