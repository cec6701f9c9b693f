#!/bin/sh
# Builds the base image of docker environments (env.docker.enabled) with no registry: a minimal
# Debian bookworm root (debootstrap, from the Debian mirror) with its python3 (3.11), imported
# as a one-layer image. Needs root (debootstrap makes device nodes and owns files as root).
#
#   scripts/build_base_image.sh [IMAGE]      # default: $AML_DOCKER_BASE_IMAGE or aml-jupyter/python:3.11
set -eu
IMAGE=${1:-${AML_DOCKER_BASE_IMAGE:-aml-jupyter/python:3.11}}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

root=$(mktemp -d /tmp/aml-base-image.XXXXXX)
trap 'rm -rf "$root"' EXIT INT TERM

# python-is-python3: `python script.py` works as well as `python3 script.py` (v1 commands use both).
debootstrap --variant=minbase --include=python3,python-is-python3,ca-certificates \
    bookworm "$root" "$MIRROR"
# What a run never needs: downloaded .debs, package lists, docs (about a third of the size).
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/*

tar -C "$root" --numeric-owner -c . | docker import \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    --message "aml_jupyter base image: debootstrap minbase bookworm + python3" \
    - "$IMAGE"
echo "built $IMAGE"
