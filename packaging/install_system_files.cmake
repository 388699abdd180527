# Installs rootfarm.service and the default rootfarm.toml; included at install time by
# packaging/CMakeLists.txt, so that the paths follow this install's CMAKE_INSTALL_PREFIX:
#   prefix /usr: /usr/lib/systemd/system/rootfarm.service, /etc/rootfarm/rootfarm.toml
#   prefix P:    P/lib/systemd/system/rootfarm.service,    P/etc/rootfarm/rootfarm.toml
# An existing configuration is never overwritten: it is the operator's (and `client add` edits
# it). DESTDIR is honoured by file(INSTALL).
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr" OR CMAKE_INSTALL_PREFIX STREQUAL "/")
    set(sysconfdir /etc)
else()
    set(sysconfdir ${CMAKE_INSTALL_PREFIX}/etc)
endif()
string(REGEX REPLACE "/$" "" prefix "${CMAKE_INSTALL_PREFIX}")

set(ROOTFARM_BINARY ${prefix}/${ROOTFARM_BINDIR}/rootfarm)
set(ROOTFARM_CONFIG ${sysconfdir}/rootfarm/rootfarm.toml)
# One file per destination: installs into different prefixes may run at the same time.
string(MD5 destination "$ENV{DESTDIR}${prefix}")
set(unit ${ROOTFARM_PACKAGING_BINARY}/install/${destination}/rootfarm.service)
configure_file(${ROOTFARM_PACKAGING_SOURCE}/rootfarm.service.in ${unit} @ONLY)
file(INSTALL ${unit} DESTINATION ${prefix}/lib/systemd/system
     PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)

if(EXISTS "$ENV{DESTDIR}${ROOTFARM_CONFIG}")
    message(STATUS "Keeping: $ENV{DESTDIR}${ROOTFARM_CONFIG}")
else()
    file(INSTALL ${ROOTFARM_PACKAGING_SOURCE}/rootfarm.toml DESTINATION ${sysconfdir}/rootfarm
         PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
endif()
