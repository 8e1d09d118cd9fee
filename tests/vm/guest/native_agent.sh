#!/bin/bash
# The integration suite in native mode on the patched kernel (kept for the
# commands in the docs): agent_suite.sh --mode native BUILD_DIR [TEST..].
exec "$(dirname "$0")/agent_suite.sh" --mode native "$@"
