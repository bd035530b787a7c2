#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

/// An ordinary user the suite makes for itself (issue #21): `swtrl<pid>` with a home, and a
/// range of subordinate ids of its own in /etc/subuid and /etc/subgid. Removed at exit with its
/// processes (the pause process and whatever rootless swiftainer left), as are the users of
/// earlier runs that were killed.
final class RootlessUser: Sendable {
    let name: String
    let uid: uid_t
    let gid: gid_t
    let home: String
    let subordinateStart: UInt32
    static let subordinateCount: UInt32 = 65536

    static let shared: RootlessUser? = {
        guard Harness.isRoot else { return nil }
        removeUsersOfDeadRuns()
        let name = "swtrl\(getpid())"
        let start = 2_000_000 + UInt32(getpid() % 1000) * subordinateCount
        let made = Harness.shell("""
            set -e
            useradd -m -K SUB_UID_COUNT=0 -K SUB_GID_COUNT=0 -s /bin/sh \(name)
            usermod --add-subuids \(start)-\(start + subordinateCount - 1) --add-subgids \(start)-\(start + subordinateCount - 1) \(name)
            """)
        guard made.status == 0, let entry = getpwnam(name) else {
            print("RootlessTests: cannot make a test user: \(made.stderr)")
            return nil
        }
        let user = RootlessUser(name: name, uid: entry.pointee.pw_uid, gid: entry.pointee.pw_gid, home: String(cString: entry.pointee.pw_dir), start: start)
        atexit {
            RootlessUser.remove("swtrl\(getpid())")
            if let delegated = RootlessUser.delegatedCgroup {
                let children = (try? FileManager.default.contentsOfDirectory(atPath: delegated)) ?? []
                for child in children where FileManager.default.fileExists(atPath: delegated + "/" + child + "/cgroup.procs") { rmdir(delegated + "/" + child) }
                rmdir(delegated)
            }
        }
        return user
    }()

    /// On cgroup v2, a subtree delegated to the user as systemd's Delegate=yes does: the
    /// directory and its cgroup.procs, cgroup.subtree_control and cgroup.threads are the
    /// user's, and the user's commands run in a leaf below it (`session`). Nil on v1.
    static let delegatedCgroup: String? = {
        guard Harness.shell("grep -qw memory /sys/fs/cgroup/cgroup.controllers").status == 0, let user = shared else { return nil }
        let own = (try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8))?.split(separator: "\n").first { $0.hasPrefix("0::") }.map { String($0.dropFirst(3)) } ?? "/"
        let directory = "/sys/fs/cgroup" + (own == "/" ? "" : own) + "/swtrl-\(getpid())"
        let made = Harness.shell("""
            set -e
            mkdir -p \(directory)/session
            chown \(user.uid):\(user.gid) \(directory) \(directory)/cgroup.procs \(directory)/cgroup.subtree_control \(directory)/cgroup.threads \(directory)/session \(directory)/session/cgroup.procs
            """)
        guard made.status == 0 else {
            print("RootlessTests: cannot delegate a cgroup: \(made.stderr)")
            return nil
        }
        return directory
    }()

    init(name: String, uid: uid_t, gid: gid_t, home: String, start: UInt32) {
        self.name = name
        self.uid = uid
        self.gid = gid
        self.home = home
        subordinateStart = start
    }

    /// The user's processes (all of them ours: the user exists for this run) end, then the user.
    static func remove(_ name: String) {
        guard let entry = getpwnam(name) else { return }
        let uid = entry.pointee.pw_uid
        for _ in 0..<3 {
            let pids = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap(Int32.init).filter { pid in
                var info = stat()
                return stat("/proc/\(pid)", &info) == 0 && (info.st_uid == uid || (info.st_uid >= 2_000_000 && info.st_uid < 67_600_000 && ownedBySubordinate(pid, name)))
            }
            if pids.isEmpty { break }
            for pid in pids { kill(pid, SIGKILL) }
            usleep(200_000)
        }
        _ = Harness.shell("userdel -r \(name) 2>/dev/null; rm -rf /tmp/swiftainer-run-\(uid)")
    }

    /// A process running as one of the user's subordinate ids: its user namespace's owner.
    static func ownedBySubordinate(_ pid: Int32, _ name: String) -> Bool {
        guard let map = try? String(contentsOfFile: "/proc/\(pid)/uid_map", encoding: .utf8), let entry = getpwnam(name) else { return false }
        return map.split(separator: "\n").first?.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first == "\(entry.pointee.pw_uid)"
    }

    static func removeUsersOfDeadRuns() {
        let passwd = (try? String(contentsOfFile: "/etc/passwd", encoding: .utf8)) ?? ""
        for line in passwd.split(separator: "\n") {
            let name = String(line.prefix { $0 != ":" })
            guard name.hasPrefix("swtrl"), let pid = Int32(name.dropFirst(5)), pid != getpid(), kill(pid, 0) != 0 && errno == ESRCH else { continue }
            remove(name)
        }
    }

    /// swiftainer as this user: setpriv drops to its ids with a clean environment, as a login
    /// would; on cgroup v2 from the leaf of its delegated subtree.
    func run(_ arguments: [String], stdin: String? = nil, environment: [String: String] = [:]) -> Harness.Result {
        let variables = environment.isEmpty ? [] : ["/usr/bin/env"] + environment.map { "\($0.key)=\($0.value)" }
        let drop = ["/usr/bin/setpriv", "--reuid", "\(uid)", "--regid", "\(gid)", "--init-groups", "--reset-env"] + variables + [Harness.binary] + arguments
        guard let delegated = Self.delegatedCgroup else { return Harness.execute(drop[0], Array(drop.dropFirst()), environment: [:], stdin: stdin) }
        return Harness.execute("/bin/sh", ["-c", "echo $$ > \(delegated)/session/cgroup.procs && exec \"$@\"", "sh"] + drop, environment: [:], stdin: stdin)
    }

    func shell(_ script: String) -> Harness.Result {
        Harness.execute("/usr/bin/setpriv", ["--reuid", "\(uid)", "--regid", "\(gid)", "--init-groups", "--reset-env", "/bin/sh", "-c", script],
                        environment: [:], stdin: nil)
    }
}

/// Rootless swiftainer (issue #21), as an ordinary user on this host: its own store, a user
/// namespace from its subordinate ids, overlay in it, slirp4netns for the network, no cgroup
/// limits on cgroup v1 (refused with the reason).
@Suite(.serialized, requiresRoot) struct RootlessTests {
    static let imported: RootlessUser? = {
        guard let user = RootlessUser.shared else { return nil }
        let fixture = Harness.repository + "/rootfs-fixtures/out/busybox-rootfs.tar.gz"
        let result = user.run(["import", fixture, "busybox"])
        guard result.status == 0 else {
            print("RootlessTests: import as \(user.name) failed: \(result.stderr)")
            return nil
        }
        return user
    }()

    @Test func aContainerRunsAsTheUserWithItsOwnStore() throws {
        let user = try #require(Self.imported)
        let inside = user.run(["run", "--rm", "--network", "none", "busybox", "sh", "-c", "id -u; id -g; cat /proc/self/uid_map"])
        #expect(inside.status == 0, "\(inside.stderr)")
        let lines = inside.stdout.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ") }
        // Root inside, the user outside; then the subordinate range, exactly as /etc/subuid gives it.
        #expect(lines == ["0", "0", "0 \(user.uid) 1", "1 \(user.subordinateStart) \(RootlessUser.subordinateCount)"], "\(inside.stdout)")
        // The store is the user's; the host's root store knows nothing of it.
        #expect(FileManager.default.fileExists(atPath: user.home + "/.local/share/swiftainer/images"))
        #expect(!Harness.run(["images", "--format", "{{.Repository}}"]).stdout.contains(user.name))
        #expect(user.run(["info", "--format", "{{json .SecurityOptions}}"]).stdout.contains("name=rootless"))
        #expect(!Harness.run(["info", "--format", "{{json .SecurityOptions}}"]).stdout.contains("rootless"))
        let state = try FileManager.default.attributesOfItem(atPath: "/tmp/swiftainer-run-\(user.uid)")
        #expect((state[.posixPermissions] as? Int) == 0o700 && (state[.ownerAccountID] as? Int) == Int(user.uid))
    }

    @Test func detachedExecLogsStopAndTheHostSeesTheUser() throws {
        let user = try #require(Self.imported)
        let name = "rl-d-\(getpid())"
        defer { _ = user.run(["rm", "-f", name]) }
        let started = user.run(["run", "-d", "--name", name, "--network", "none", "busybox", "sh", "-c", "echo hello; exec sleep 300"])
        #expect(started.status == 0, "\(started.stderr)")
        let pid = user.run(["inspect", "-f", "{{.State.Pid}}", name]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let uidLine = status.split(separator: "\n").first { $0.hasPrefix("Uid:") }.map { $0.split(separator: "\t").dropFirst().first.map(String.init) } ?? nil
        #expect(uidLine == "\(user.uid)", "the container's root is the user on the host: \(status.prefix(300))")
        #expect(user.run(["exec", name, "id", "-u"]).stdout == "0\n")
        #expect(Harness.eventually(5) { user.run(["logs", name]).stdout == "hello\n" })
        #expect(user.run(["ps", "--format", "{{.Names}} {{.Status}}"]).stdout.hasPrefix("\(name) Up"))
        #expect(user.run(["stop", "-t", "1", name]).status == 0)
        #expect(user.run(["ps", "-a", "--filter", "name=\(name)", "--format", "{{.Status}}"]).stdout.hasPrefix("Exited"))
        #expect(user.run(["rm", name]).status == 0)
    }

    /// An image of the user's made from the fixture and files of `owners` (path → uid, gid the
    /// same), imported as `name`; nil (printed) when it cannot be made.
    static func importImage(_ user: RootlessUser, _ name: String, owners: [(String, Int)]) -> Bool {
        let archive = user.home + "/\(name).tar"
        let files = owners.map { "(\"\($0.0)\", \($0.1))" }.joined(separator: ", ")
        let made = Harness.shell("""
            set -e
            python3 - '\(archive)' '\(Harness.repository)/rootfs-fixtures/out/busybox-rootfs.tar.gz' <<'EOF'
            import io, sys, tarfile
            out = tarfile.open(sys.argv[1], "w")
            with tarfile.open(sys.argv[2], "r:gz") as base:
                for member in base.getmembers():
                    out.addfile(member, base.extractfile(member) if member.isfile() else None)
            for name, uid in (\(files),):
                data = (name + "\\n").encode()
                info = tarfile.TarInfo(name); info.size = len(data); info.uid = uid; info.gid = uid; info.mode = 0o640
                out.addfile(info, io.BytesIO(data))
            out.close()
            EOF
            chown \(user.uid) '\(archive)'
            """)
        guard made.status == 0 else {
            print("RootlessTests: making \(archive) failed: \(made.stderr)")
            return false
        }
        let imported = user.run(["import", archive, name])
        guard imported.status == 0 else {
            print("RootlessTests: importing \(archive) failed: \(imported.stderr)")
            return false
        }
        return true
    }

    /// Files owned by 1000 and 0 in the image keep those owners inside; outside they belong to
    /// the user's subordinate ids; writes stay in the container.
    @Test func imageOwnershipIsShiftedIntoTheUsersRange() throws {
        let user = try #require(Self.imported)
        try #require(Self.importImage(user, "owned", owners: [("home/app/data", 1000), ("home/app/rootfile", 0)]))
        let listing = user.run(["run", "--rm", "--network", "none", "owned", "sh", "-c", "ls -ln /home/app | awk 'NR>1 {print $3, $4, $9}'; echo new > /home/app/new"])
        #expect(listing.stdout == "1000 1000 data\n0 0 rootfile\n", "\(listing.stdout) \(listing.stderr)")
        #expect(user.run(["run", "--rm", "--network", "none", "owned", "ls", "/home/app/new"]).status != 0, "a write reached the image")
        // On the host, the layer's file belongs to subordinate id 1000 of the user's range.
        let found = Harness.shell("find \(user.home)/.local/share/swiftainer/images/layers -path '*home/app/data' -printf '%U\\n' | sort -u").stdout
        #expect(found == "\(user.subordinateStart + 999)\n", "\(found)")
    }

    /// `--userns keep-id`: the user is their own uid and gid inside, so a volume's files are
    /// theirs on both sides; the image keeps its owners (root's files root's, 1000's 1000's)
    /// through a copy of its layers owned for the container's map; export and commit give the
    /// container's owners; the copies go with the image.
    @Test func keepIDMakesTheUserTheirOwnIDInside() throws {
        let user = try #require(Self.imported)
        try #require(Self.importImage(user, "kid", owners: [("home/app/data", 1000), ("home/app/rootfile", 0), ("home/app/kid", 0)]))
        let (uid, gid) = (user.uid, user.gid)
        let volume = user.home + "/keepid"
        let name = "rl-kid-\(getpid())"
        let internet = try Harness.InternetWebServer("rlkid", net: "198.18.7")
        defer {
            _ = user.run(["rm", "-f", name])
            _ = user.run(["rmi", "kid", "kid-committed"])
            internet.stop()
        }
        try #require(user.shell("mkdir -p \(volume) && echo host > \(volume)/fromhost").status == 0)
        let ran = user.run(["run", "--rm", "--network", "none", "--userns", "keep-id", "-v", "\(volume):/data", "kid", "sh", "-c",
                            "id -u; id -g; id -un; echo $HOME; ls -ln /home/app | awk 'NR>1 {print $3, $4, $9}'; stat -c %u:%g / /bin/busybox /data/fromhost; echo c > /data/fromcontainer; cat /proc/self/uid_map"])
        let lines = ran.stdout.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ") }
        #expect(ran.status == 0 && lines == ["\(uid)", "\(gid)", user.name, user.home, "1000 1000 data", "0 0 kid", "0 0 rootfile", "0:0", "0:0", "\(uid):\(gid)",
                                             "0 1 \(uid)", "\(uid) 0 1", "\(uid + 1) \(uid + 1) \(65536 - uid)"], "\(ran.stdout) \(ran.stderr)")
        var info = stat()
        #expect(stat(volume + "/fromcontainer", &info) == 0 && info.st_uid == uid && info.st_gid == gid, "the container's write is the user's on the host")
        // Root inside is root over the image, and its files are root's again.
        let root = user.run(["run", "--rm", "--network", "none", "--userns", "keep-id", "-u", "0", "kid", "sh", "-c", "id -u; echo r > /home/app/rootfile && stat -c %u:%g /home/app/rootfile"])
        #expect(root.stdout == "0\n0:0\n", "\(root.stdout) \(root.stderr)")
        // Detached on the user-mode network: exec runs as the user, slirp4netns reaches out
        // through the nested namespace.
        #expect(user.run(["run", "-d", "--name", name, "--userns", "keep-id", "kid", "sh", "-c", "echo mine > /tmp/mine; exec sleep 300"]).status == 0)
        #expect(user.run(["exec", name, "id", "-u"]).stdout == "\(uid)\n")
        #expect(user.run(["top", name]).stdout.contains("\n\(uid) "), "top shows the container's uids")
        let out = user.run(["exec", name, "sh", "-c", "for i in 1 2 3 4 5; do timeout 3 wget -qO- \(internet.url)/ && exit 0; sleep 0.2; done; exit 1"])
        #expect(out.stdout == "outside\n", "\(out.stdout) \(out.stderr)")
        #expect(Harness.eventually(5) { user.run(["exec", name, "cat", "/tmp/mine"]).stdout == "mine\n" })
        // What leaves the container names the owners it sees.
        let exported = user.shell("\(Harness.binary) export \(name) | tar --numeric-owner -tvf - home/app tmp/mine")
        // tar -v: mode, owner/group, size, date, time, name.
        let owners = Set(exported.stdout.split(separator: "\n").map { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            return "\(fields.dropFirst().first ?? "") \(fields.last ?? "")"
        })
        #expect(owners == ["0/0 home/app/", "1000/1000 home/app/data", "0/0 home/app/rootfile", "0/0 home/app/kid", "\(uid)/\(gid) tmp/mine"],
                "\(exported.stdout) \(exported.stderr)")
        let commit = user.run(["commit", name, "kid-committed"])
        #expect(commit.status == 0, "\(commit.stderr)")
        let committed = user.run(["run", "--rm", "--network", "none", "kid-committed", "stat", "-c", "%u:%g", "/tmp/mine", "/home/app/data"])
        #expect(committed.stdout == "\(uid):\(gid)\n1000:1000\n", "\(committed.stdout) \(committed.stderr)")
        #expect(user.run(["rm", "-f", name]).status == 0)
        // The layer copies made for the map go with the image.
        let mapped = user.home + "/.local/share/swiftainer/images/mapped"
        #expect(!((try? FileManager.default.contentsOfDirectory(atPath: mapped)) ?? []).isEmpty, "no layer copy was made for the map")
        #expect(user.run(["rmi", "kid", "kid-committed"]).status == 0)
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: mapped)) ?? []).isEmpty, "layer copies outlived their image")
        #expect(Harness.shell("find -L \(user.home)/.local/share/swiftainer/images/l -maxdepth 1 -type l").stdout.isEmpty, "a dangling layer link is left")
    }

    /// `unshare` (Podman's): a command in the user's namespace, as its root — where a store
    /// whose files belong to subordinate ids can be removed, which the user alone cannot do.
    @Test func unshareRunsACommandInTheUsersNamespace() throws {
        let user = try #require(Self.imported)
        let inside = user.run(["unshare", "sh", "-c", "id -u; cat /proc/self/uid_map"])
        let lines = inside.stdout.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ") }
        #expect(inside.status == 0 && lines == ["0", "0 \(user.uid) 1", "1 \(user.subordinateStart) \(RootlessUser.subordinateCount)"], "\(inside.stdout) \(inside.stderr)")
        // A store of its own with directories of subordinate ids: keep-id's layer copies, where
        // the image's root is the namespace's 1.
        let data = user.home + "/unshare-data"
        let store = ["XDG_DATA_HOME": data]
        #expect(user.run(["import", Harness.repository + "/rootfs-fixtures/out/busybox-rootfs.tar.gz", "busybox"], environment: store).status == 0)
        #expect(user.run(["run", "--rm", "--network", "none", "--userns", "keep-id", "busybox", "true"], environment: store).status == 0)
        #expect(user.shell("rm -rf \(data) 2>/dev/null; test -d \(data)").status == 0, "the user alone could remove files of subordinate ids")
        #expect(user.run(["unshare", "rm", "-rf", data]).status == 0)
        #expect(!FileManager.default.fileExists(atPath: data))
        #expect(user.run(["unshare", "no-such-command-\(getpid())"]).status == 127)
        let asRoot = Harness.run(["unshare", "true"])
        #expect(asRoot.status == 125 && asRoot.stderr.contains("only rootless"), "\(asRoot.stderr)")
    }

    /// keep-id's refusals: as root (where ids are the host's already) and for an id beyond the
    /// user's namespace, each in one line.
    @Test func keepIDRefusalsAreClear() throws {
        let user = try #require(Self.imported)
        let asRoot = Harness.run(["run", "--rm", "--network", "none", "--userns", "keep-id", "busybox", "true"])
        #expect(asRoot.status == 125 && asRoot.stderr.contains("only rootless"), "\(asRoot.stderr)")
        let tooLarge = user.run(["run", "--rm", "--network", "none", "--userns", "keep-id:uid=70000", "busybox", "true"])
        #expect(tooLarge.status == 125 && tooLarge.stderr.contains("uid 70000 does not fit"), "\(tooLarge.stderr)")
        let unknown = user.run(["run", "--rm", "--network", "none", "--userns", "keep-id:size=5", "busybox", "true"])
        #expect(unknown.status == 125 && unknown.stderr.contains("keep-id takes uid=N and gid=N"), "\(unknown.stderr)")
        for result in [asRoot, tooLarge, unknown] { #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)") }
        #expect(user.run(["ps", "-aq"]).stdout.isEmpty, "a refused run left a container")
    }

    /// slirp4netns: outbound to the test's "internet" namespace, and a published port.
    @Test func userModeNetworkGoesOutAndPublishesPorts() throws {
        let user = try #require(Self.imported)
        let busybox = ["/usr/bin/busybox", "/bin/busybox"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? "busybox"
        let web = "rl-web-\(getpid())"
        let internet = try Harness.InternetWebServer("rlnet", net: "198.18.7")
        defer {
            _ = user.run(["rm", "-f", web])
            internet.stop()
        }
        let out = user.run(["run", "--rm", "busybox", "sh", "-c",
                            "ip -o -4 addr show eth0 | grep -o 'inet [0-9.]*'; for i in 1 2 3 4 5; do timeout 3 wget -qO- \(internet.url)/ && exit 0; sleep 0.2; done; exit 1"])
        #expect(out.stdout == "inet 10.0.2.100\noutside\n", "\(out.stdout) \(out.stderr)")
        // Clear of the other suites' fixed ports (20000-39999), which run at the same time.
        let port = 41000 + Int(getpid() % 1000)
        let started = user.run(["run", "-d", "--name", web, "-p", "127.0.0.1:\(port):80", "--hostname", "rootless-web", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc"])
        #expect(started.status == 0, "\(started.stderr)")
        #expect(Harness.eventually { Harness.shell("timeout 3 \(busybox) wget -qO- http://127.0.0.1:\(port)/hostname").stdout == "rootless-web\n" })
        #expect(user.run(["port", web, "80"]).stdout == "127.0.0.1:\(port)\n")
        // The host's loopback is not the container's way to the host.
        #expect(user.run(["run", "--rm", "busybox", "sh", "-c", "timeout 3 wget -qO- http://10.0.2.2:\(port)/hostname || echo unreachable"]).stdout == "unreachable\n")
        #expect(user.run(["rm", "-f", web]).status == 0)
        #expect(Harness.eventually(5) { Harness.shell("pgrep -u \(user.uid) -x slirp4netns").status != 0 }, "slirp4netns outlived its container")
    }

    /// slirp4netns's nameserver (10.0.2.3) forwards to the nameservers of the user's
    /// /etc/resolv.conf: here a dnsmasq in the test internet, named by a resolv.conf bound over
    /// the host's in the user's own mount namespace (`unshare`), which only the user sees.
    @Test func userModeNetworkForwardsDNSToTheUsersNameservers() throws {
        let user = try #require(Self.imported)
        let internet = try Harness.InternetWebServer("rldns", net: "198.18.7")
        defer { internet.stop() }
        let dns = Harness.start("/usr/sbin/ip", ["netns", "exec", internet.ns, "/usr/sbin/dnsmasq", "-k", "--no-resolv", "--no-hosts", "--listen-address=198.18.7.2",
                                                 "--bind-interfaces", "--address=/rootless.example/198.18.7.9", "--pid-file=", "--user=root"],
                                environment: [:], stdin: nil)
        defer { dns.signal(SIGKILL); _ = dns.finish() }
        #expect(Harness.eventually(5) { Harness.shell("ip netns exec \(internet.ns) ss -lun | grep -q 198.18.7.2:53").status == 0 }, "dnsmasq did not start")
        let resolv = user.home + "/resolv.conf"
        try #require(user.shell("echo 'nameserver 198.18.7.2' > \(resolv)").status == 0)
        let bound = user.run(["unshare", "mount", "--bind", resolv, "/etc/resolv.conf"])
        try #require(bound.status == 0, "\(bound.stderr)")
        defer { _ = user.run(["unshare", "umount", "/etc/resolv.conf"]) }
        #expect(Harness.shell("grep -c 198.18.7.2 /etc/resolv.conf").stdout == "0\n", "the bind reached the host's mount namespace")
        let looked = user.run(["run", "--rm", "busybox", "sh", "-c", "grep nameserver /etc/resolv.conf; nslookup rootless.example | grep -c 198.18.7.9"])
        #expect(looked.stdout == "nameserver 10.0.2.3\n1\n", "\(looked.stdout) \(looked.stderr)")
    }

    /// Nothing a rootless container does gains more than the user has; limits are refused on
    /// cgroup v1 with the reason; what needs root says so.
    @Test func noMoreThanTheUserHasAndClearRefusals() throws {
        let user = try #require(Self.imported)
        let secret = "/tmp/swiftainer-rlsecret-\(getpid())"
        defer { unlink(secret) }
        try "secret\n".write(toFile: secret, atomically: true, encoding: .utf8)
        chmod(secret, 0o600)
        let read = user.run(["run", "--rm", "--network", "none", "-v", "\(secret):/secret", "busybox", "sh", "-c", "cat /secret || echo denied"])
        #expect(read.stdout == "denied\n", "\(read.stdout) \(read.stderr)")
        let limited = user.run(["run", "--rm", "--network", "none", "-m", "64m", "--pids-limit", "50", "busybox", "sh", "-c",
                                "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max"])
        if let delegated = RootlessUser.delegatedCgroup {
            // cgroup v2 with a delegated subtree: the limits are the container's, as root's are.
            #expect(limited.stdout == "67108864\n50\n", "\(limited.stdout) \(limited.stderr)")
            let left = ((try? FileManager.default.contentsOfDirectory(atPath: delegated)) ?? []).filter { $0.hasPrefix("swiftainer-") }
            #expect(left.isEmpty, "container cgroups left in \(delegated): \(left)")
        } else {
            #expect(limited.status == 125 && limited.stderr.contains("rootless") && limited.stderr.contains("cgroup v1"), "\(limited.stderr)")
            #expect(limited.stderr.split(separator: "\n").count == 1)
        }
        for (arguments, message) in [(["network", "create", "n\(getpid())"], "rootless"), (["run", "--rm", "--cap-drop", "NET_RAW", "--network", "none", "busybox", "ping", "-c1", "127.0.0.1"], "permission denied")] {
            let result = user.run(arguments)
            #expect(result.status != 0 && result.stderr.contains(message), "\(arguments): \(result.stderr)")
        }
        // What only a cgroup can do: done with a delegated one, refused in one line without.
        let name = "rl-cg-\(getpid())"
        defer { _ = user.run(["rm", "-f", name]) }
        #expect(user.run(["run", "-d", "--name", name, "--network", "none", "busybox", "sh", "-c", "sleep 301 & exec sleep 300"]).status == 0)
        #expect(Harness.eventually(5) { user.run(["top", name]).stdout.contains("sleep 301") }, "top lists the container's processes")
        let paused = user.run(["pause", name]), stats = user.run(["stats", "--no-stream", name])
        if RootlessUser.delegatedCgroup != nil {
            #expect(paused.status == 0 && user.run(["unpause", name]).status == 0, "\(paused.stderr)")
            #expect(stats.status == 0, "\(stats.stderr)")
        } else {
            #expect(paused.status != 0 && paused.stderr.contains("has no cgroup to pause"), "\(paused.stderr)")
            #expect(stats.status != 0 && stats.stderr.contains("has no cgroup to read"), "\(stats.stderr)")
            // commit pauses where it can; here it commits the running container as it is.
            #expect(user.run(["commit", name, "rl-cg-committed"]).status == 0)
            #expect(user.run(["rmi", "rl-cg-committed"]).status == 0)
        }
        #expect(user.run(["rm", "-f", name]).status == 0)
        // Nothing of the container is left in the user's state.
        #expect(user.run(["ps", "-aq", "--filter", "status=running"]).stdout.isEmpty)
    }

    /// Seccomp rootless: the default profile filters, a Docker-format profile of the user's
    /// denies what it names, `unconfined` turns it off.
    @Test func seccompProfilesApplyRootless() throws {
        let user = try #require(Self.imported)
        let profile = user.home + "/no-mkdir.json"
        try #require(user.shell(#"echo '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}' > "# + profile).status == 0)
        let mode = "grep Seccomp: /proc/self/status | tr -d '\\t'"
        #expect(user.run(["run", "--rm", "--network", "none", "busybox", "sh", "-c", mode]).stdout == "Seccomp:2\n")
        #expect(user.run(["run", "--rm", "--network", "none", "--security-opt", "seccomp=unconfined", "busybox", "sh", "-c", mode]).stdout == "Seccomp:0\n")
        let denied = user.run(["run", "--rm", "--network", "none", "--security-opt", "seccomp=\(profile)", "busybox", "sh", "-c", "mkdir /x; echo $?"])
        #expect(denied.stdout == "1\n" && denied.stderr.contains("Operation not permitted"), "\(denied.stdout) \(denied.stderr)")
    }

    /// A rootless container's root is the user, but reaches only what is mounted for it: the
    /// user's files beside its volume are out of its reach, through `..`, a symlink, a bind
    /// mount of its own or /proc.
    @Test func theUsersFilesOutsideItsVolumesAreOutOfReach() throws {
        let user = try #require(Self.imported)
        let name = "outside-\(getpid())"
        let outside = user.home + "/" + name, volume = user.home + "/vol-\(getpid())"
        defer { _ = Harness.shell("rm -rf \(outside) \(volume)") }
        try #require(user.shell("echo mine > \(outside) && mkdir \(volume)").status == 0)
        let tried = user.run(["run", "--rm", "--network", "none", "--cap-add", "SYS_ADMIN", "-v", "\(volume):/data", "busybox", "sh", "-c", """
            echo x > /data/../\(name) 2>/dev/null
            ln -s \(outside) /data/link; echo x > /data/link 2>/dev/null
            mkdir -p /up && mount --bind /data/.. /up 2>/dev/null; echo x > /up/\(name) 2>/dev/null
            echo x > /proc/1/root\(outside) 2>/dev/null
            ls \(user.home) >/dev/null 2>&1 && echo home-visible
            echo done
            """])
        #expect(tried.stdout == "done\n", "\(tried.stdout) \(tried.stderr)")
        #expect((try? String(contentsOfFile: outside, encoding: .utf8)) == "mine\n", "the container wrote the user's file outside its volume")
    }

    /// The OCI verbs rootless: a `spec --rootless` bundle runs, its user namespace nested in
    /// the user's (root inside is the user outside), and goes with `delete`.
    @Test func ociVerbsRunRootless() throws {
        let user = try #require(Self.imported)
        let bundle = user.home + "/bundle-\(getpid())"
        let id = "rl-oci-\(getpid())"
        defer { _ = user.run(["delete", "--force", id]); _ = Harness.shell("rm -rf \(bundle)") }
        let made = user.shell("""
            set -e
            mkdir -p \(bundle)/rootfs && cd \(bundle)
            tar -xzf \(Harness.repository)/rootfs-fixtures/out/busybox-rootfs.tar.gz -C rootfs
            \(Harness.binary) spec --rootless
            python3 -c "import json; c = json.load(open('config.json')); c['process']['terminal'] = False; c['process']['args'] = ['sh', '-c', 'id -u; cat /proc/self/uid_map']; json.dump(c, open('config.json', 'w'))"
            """)
        try #require(made.status == 0, "\(made.stderr)")
        let ran = user.shell("cd \(bundle) && \(Harness.binary) run --bundle . \(id)")
        let lines = ran.stdout.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ") }
        #expect(ran.status == 0 && lines == ["0", "0 0 1"], "\(ran.stdout) \(ran.stderr)")
        #expect(user.run(["state", id]).status != 0, "run --bundle deletes the container it ran, as runc does")
    }

    /// `pull` into the user's store, from a registry on loopback.
    @Test func pullIntoTheUsersStore() throws {
        let user = try #require(Self.imported)
        let registry = try #require(RegistryTests.plain)
        let image = "\(registry.address)/test/base:1"
        let pulled = user.run(["pull", image])
        #expect(pulled.status == 0, "\(pulled.stderr)")
        #expect(user.run(["images", "--format", "{{.Repository}}:{{.Tag}}"]).stdout.contains(image))
        #expect(!Harness.run(["images", "--format", "{{.Repository}}:{{.Tag}}"]).stdout.contains(image), "the pull reached root's store")
        #expect(user.run(["rmi", image]).status == 0)
    }

    /// A user with no subordinate ids: one id (root inside is the user), a warning that says
    /// so, and an image owned by root alone still runs.
    @Test func aUserWithoutSubordinateIdsGetsOneIdAndAWarning() throws {
        guard RootlessUser.shared != nil else { return }
        let name = "swtrn\(getpid())"
        defer { RootlessUser.remove(name) }
        let made = Harness.shell("useradd -m -K SUB_UID_COUNT=0 -K SUB_GID_COUNT=0 -s /bin/sh \(name)")
        try #require(made.status == 0, "\(made.stderr)")
        let entry = try #require(getpwnam(name))
        let user = RootlessUser(name: name, uid: entry.pointee.pw_uid, gid: entry.pointee.pw_gid, home: String(cString: entry.pointee.pw_dir), start: 0)
        let imported = user.run(["import", Harness.repository + "/rootfs-fixtures/out/busybox-rootfs.tar.gz", "busybox"])
        #expect(imported.status == 0 && imported.stderr.contains("warning: no ranges for \(name) in /etc/subuid"), "\(imported.stderr)")
        let inside = user.run(["run", "--rm", "--network", "none", "busybox", "sh", "-c", "id -u; cat /proc/self/uid_map"])
        let lines = inside.stdout.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ") }
        #expect(inside.status == 0 && lines == ["0", "0 \(user.uid) 1"], "\(inside.stdout) \(inside.stderr)")
        #expect(!inside.stderr.contains("warning"), "the namespace is made once, and warned about once")
        let keepID = user.run(["run", "--rm", "--network", "none", "--userns", "keep-id", "busybox", "true"])
        #expect(keepID.status == 125 && keepID.stderr.contains("maps only your own uid") && keepID.stderr.contains("/etc/subuid"), "\(keepID.stderr)")
    }

    /// Where the kernel refuses overlayfs in a user namespace, fuse-overlayfs mounts the root
    /// (forced here: this kernel allows it); writes stay in the container, and the mount and its
    /// daemon go with the run.
    @Test func fuseOverlayfsIsTheFallbackRoot() throws {
        let user = try #require(Self.imported)
        let fuse = ["SWIFTAINER_ROOTLESS_OVERLAY": "fuse-overlayfs"]
        let name = "rl-fuse-\(getpid())"
        defer { _ = user.run(["rm", "-f", name]) }
        let ran = user.run(["run", "--rm", "--network", "none", "busybox", "sh", "-c",
                            "awk '$5 == \"/\"' /proc/self/mountinfo | grep -c fuse-overlayfs; echo written > /etc/written; cat /etc/written; ls /bin/sh"],
                           environment: fuse)
        #expect(ran.stdout == "1\nwritten\n/bin/sh\n", "\(ran.stdout) \(ran.stderr)")
        #expect(user.run(["run", "--rm", "--network", "none", "busybox", "ls", "/etc/written"], environment: fuse).status != 0, "a write reached the image")
        #expect(user.run(["run", "-d", "--name", name, "--network", "none", "busybox", "sleep", "300"], environment: fuse).status == 0)
        #expect(Harness.shell("pgrep -u \(user.uid) -x fuse-overlayfs").status == 0)
        #expect(user.run(["rm", "-f", name]).status == 0)
        #expect(Harness.eventually(5) { Harness.shell("pgrep -u \(user.uid) -x fuse-overlayfs").status != 0 }, "fuse-overlayfs outlived its container")
        // A stopped container's files read through fuse-overlayfs too: it writes an opaque
        // directory as a `.wh..wh..opq` file, which the kernel's overlay would show, with the
        // lower directory's files the container removed.
        #expect(user.run(["run", "--name", name, "--network", "none", "busybox", "sh", "-c", "rm -rf /usr/sbin && mkdir /usr/sbin && echo x > /usr/sbin/only"],
                         environment: fuse).status == 0)
        let exported = user.shell("SWIFTAINER_ROOTLESS_OVERLAY=fuse-overlayfs \(Harness.binary) export \(name) | tar -tf - | grep '^usr/sbin/'")
        #expect(exported.stdout == "usr/sbin/\nusr/sbin/only\n", "\(exported.stdout) \(exported.stderr)")
        let copied = user.shell("SWIFTAINER_ROOTLESS_OVERLAY=fuse-overlayfs \(Harness.binary) cp \(name):/usr/sbin - | tar -tf -")
        #expect(copied.stdout == "sbin/\nsbin/only\n", "\(copied.stdout) \(copied.stderr)")
        let changes = user.run(["diff", name], environment: fuse).stdout
        #expect(changes.contains("A /usr/sbin/only") && !changes.contains(".wh."), "\(changes)")
        #expect(user.run(["rm", name]).status == 0)
        #expect(Harness.eventually(5) { Harness.shell("pgrep -u \(user.uid) -x fuse-overlayfs").status != 0 }, "fuse-overlayfs outlived export or cp")
    }
}
