# Shared by the feed's packages: they build from the repository this feed lives in
# (deploy/openwrt/ of ebpf-netfilter-redirect), not from a downloaded tarball.
# NFR_SOURCE_DIR may point elsewhere (e.g. an exported release tree).
NFR_FEED_DIR := $(realpath $(dir $(lastword $(MAKEFILE_LIST))))
NFR_SOURCE_DIR ?= $(realpath $(NFR_FEED_DIR)/../..)
NFR_VERSION := $(shell grep -m1 '^project' $(NFR_SOURCE_DIR)/CMakeLists.txt | grep -o 'VERSION [0-9.]*' | cut -d' ' -f2)
