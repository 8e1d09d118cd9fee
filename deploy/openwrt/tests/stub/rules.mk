# Stand-in for OpenWrt's rules.mk (tests/feed_check.sh): only what the feed's Makefiles use.
INSTALL_DIR := install -d -m0755
INSTALL_BIN := install -m0755
INSTALL_DATA := install -m0644
INSTALL_CONF := install -m0600
CP := cp -fpR
BUILD_DIR := $(STUB_OUT)/build
STAGING_DIR_HOSTPKG := $(STUB_OUT)/hostpkg
LINUX_DIR := $(STUB_OUT)/linux
