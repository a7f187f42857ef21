# Sourced by scripts/test-prereqs and scripts/image-prereqs: stop with one line saying what
# to install, or install Debian packages when we are root. The caller sets `who`, the make
# target its messages name.

missing() {
    echo "$who: $*" >&2
    exit 1
}

can_apt() {
    [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null
}

# apt_install WHAT PACKAGE...: install Debian packages as root, or stop naming them
apt_updated=
apt_install() {
    local what=$1
    shift
    can_apt || missing "Debian's $* is needed for $what: run 'apt-get install $*' as root"
    echo "$who: installing Debian's $* for $what (apt-get)"
    [ -n "$apt_updated" ] || { apt-get update -qq; apt_updated=1; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
