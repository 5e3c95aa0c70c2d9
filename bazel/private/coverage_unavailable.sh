#!/bin/sh
# Stands in for Bazel's coverage report generator, which Bazel 4 fetches from the internet for
# every test rule (`@remote_coverage_tools`): the debless rules are used offline, without
# `bazel coverage`.
echo "debless rules: coverage reports are not available in this offline setup" >&2
exit 1
