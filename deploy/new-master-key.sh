#!/usr/bin/env sh
# Prints a new master key: standard base64 of 32 random bytes.
#   deploy/new-master-key.sh > deploy/master.key && chmod 600 deploy/master.key
head -c 32 /dev/urandom | base64
