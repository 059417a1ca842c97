#!/bin/sh
# Debian's Chromium (/usr/bin/chromium) as the tests launch it (tests/conftest.py), with
# every --disable-features switch merged into one: Chromium heeds only the last one, and
# Playwright passes its own list before the tests' arguments, which would replace it.
features=
for arg do
  shift
  case "$arg" in
    --disable-features=*) features="${features:+$features,}${arg#--disable-features=}" ;;
    *) set -- "$@" "$arg" ;;
  esac
done
exec /usr/bin/chromium ${features:+"--disable-features=$features"} "$@"
