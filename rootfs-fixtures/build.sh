#!/usr/bin/env bash
# Builds rootfs-fixtures/out/busybox-rootfs.tar.gz: a root filesystem shaped like Alpine's
# minirootfs (busybox at /bin/busybox, applets as symlinks, /etc/passwd, group, hosts, ...)
# from Debian's busybox-static. Reproducible: fixed mtimes, numeric root ownership, sorted.
# Usage: rootfs-fixtures/build.sh [OUTPUT.tar.gz]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/out/busybox-rootfs.tar.gz}
busybox=$(command -v busybox || true)
linkage=$(ldd "${busybox:-/nonexistent}" 2>&1 || true)
case "$linkage" in
    *"not a dynamic executable"*) ;;
    *) echo "build.sh: no statically linked busybox found; install busybox-static (apt-get install busybox-static)" >&2
       exit 1 ;;
esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/rootfs
mkdir -p "$root"
cd "$root"
mkdir -p bin sbin usr/bin usr/sbin usr/local/bin etc dev proc sys tmp root home mnt run var/log var/tmp lib media opt srv
chmod 1777 tmp var/tmp
chmod 700 root
install -m 0755 "$busybox" bin/busybox
for applet in $("$busybox" --list-full); do
    case "$applet" in bin/busybox) continue ;; esac
    mkdir -p "$(dirname "$applet")"
    [ -e "$applet" ] || ln -s /bin/busybox "$applet"
done

cat > etc/passwd <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/sbin/nologin
bin:x:2:2:bin:/bin:/sbin/nologin
nobody:x:65534:65534:nobody:/:/sbin/nologin
guest:x:405:100:guest:/dev/null:/sbin/nologin
PASSWD
cat > etc/group <<'GROUP'
root:x:0:root
daemon:x:1:root,daemon
bin:x:2:root,bin,daemon
users:x:100:guest
nogroup:x:65533:
nobody:x:65534:
GROUP
cat > etc/hosts <<'HOSTS'
127.0.0.1	localhost localhost.localdomain
::1		localhost localhost.localdomain
HOSTS
cat > etc/os-release <<'OSREL'
NAME="swiftainer busybox fixture"
ID=busybox-fixture
VERSION_ID=1
PRETTY_NAME="swiftainer busybox fixture (Alpine-shaped)"
OSREL
echo 'export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' > etc/profile
echo "busybox-fixture" > etc/hostname
: > etc/resolv.conf
echo "/bin/sh" > etc/shells

mkdir -p "$(dirname "$out")"
tar --sort=name --mtime='2024-01-01 00:00:00' --owner=0 --group=0 --numeric-owner \
    -C "$root" -czf "$out.tmp" .
mv "$out.tmp" "$out"
echo "$out"
