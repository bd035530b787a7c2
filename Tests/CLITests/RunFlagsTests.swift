import Testing
@testable import CLI
@testable import Engine
import OCI

/// The `run` flag table and the values of Docker's flags, without root.
@Suite struct RunFlagsTests {
    @Test func everyFlagIsDescribedOnceWithAKindAndAGroup() {
        var seen: Set<String> = []
        for option in RunFlags.options {
            #expect(!option.help.isEmpty, "\(option.names) has no help")
            #expect(option.group != nil, "\(option.names) has no group")
            #expect(option.takesValue == (option.valueName != nil), "\(option.names)")
            for name in option.names { #expect(seen.insert(name).inserted, "\(name) twice") }
        }
        let help = SwiftainerCLI.commandHelp(Commands.run)
        #expect(help.contains("  -m, --memory bytes"))
        #expect(help.contains("Resources:\n"))
        #expect(help.contains("--gpus gpu") && help.contains("[refused: --gpus is not supported"))
    }

    /// #18's bar for every command, not only run: each option has its value's kind and a line.
    @Test func everyCommandsOptionsAreDescribed() {
        // The groups' subcommands too (building the table also checks every name it uses).
        let grouped = CommandGroup.all.flatMap { $0.subcommands.map(\.command) }
        #expect(CommandGroup.all.map(\.name) == ["container", "image", "network", "volume", "system"])
        for command in Commands.all + grouped where !command.hidden {
            for option in command.options {
                #expect(!option.help.isEmpty, "\(command.name) \(option.names) has no help")
                #expect(option.takesValue == (option.valueName != nil), "\(command.name) \(option.names)")
            }
            let help = SwiftainerCLI.commandHelp(command)
            #expect(help.hasPrefix("Usage: swiftainer \(command.usage)\n\n\(command.summary)\n"), "\(command.name)")
            #expect(!command.summary.isEmpty, "\(command.name) has no summary")
        }
        #expect(SwiftainerCLI.commandHelp(LifecycleCommands.stop).contains("  -t, --time, --timeout int  Seconds to wait"))
    }

    @Test func anUnknownFlagSuggestsTheNearestOne() {
        #expect(nearestOption(to: "--memry", in: RunFlags.options) == "--memory")
        #expect(nearestOption(to: "--enviroment", in: RunFlags.options) == nil || nearestOption(to: "--enviroment", in: RunFlags.options) == "--env")
        #expect(nearestOption(to: "--publsh", in: RunFlags.options) == "--publish")
        #expect(nearestOption(to: "--zzzzzzzzzz", in: RunFlags.options) == nil)
        #expect(editDistance("kitten", "sitting") == 3)
        #expect(editDistance("", "abc") == 3)
        do {
            _ = try parseArguments(["--memry", "5m"], options: RunFlags.options, stopAtFirstPositional: true)
            Issue.record("an unknown flag was accepted")
        } catch let error as UsageError {
            #expect(error.message == "unknown flag: --memry; did you mean --memory?")
        } catch {
            Issue.record("\(error)")
        }
    }

    @Test func switchesKeepAnExplicitFalse() throws {
        let parsed = try parseArguments(["--sig-proxy=false", "--rm"], options: RunFlags.options, stopAtFirstPositional: true)
        #expect(parsed.value("sig-proxy") == "false" && !parsed.has("sig-proxy") && parsed.has("rm"))
    }

    @Test func ulimitsAsDockerReadsThem() throws {
        #expect(try DockerFlagValues.ulimit("nofile=1024:2048") == Rlimit(type: "RLIMIT_NOFILE", hard: 2048, soft: 1024))
        #expect(try DockerFlagValues.ulimit("core=-1") == Rlimit(type: "RLIMIT_CORE", hard: .max, soft: .max))
        #expect(throws: EngineError.self) { try DockerFlagValues.ulimit("nofile=10:5") }
        #expect(throws: EngineError.self) { try DockerFlagValues.ulimit("nofile") }
        #expect(throws: EngineError.self) { try DockerFlagValues.ulimit("bogus=1") }
        #expect(throws: EngineError.self) { try DockerFlagValues.ulimit("nofile=1:2:3") }
    }

    @Test func networkIdentityAndReferenceFlags() throws {
        #expect(DockerFlagValues.macAddress("92:d0:c6:0a:29:33") == [0x92, 0xd0, 0xc6, 0x0a, 0x29, 0x33])
        #expect(DockerFlagValues.macAddress("02-42-AC-11-00-02") == [0x02, 0x42, 0xac, 0x11, 0x00, 0x02])
        for bad in ["01:00:5e:00:00:01", "00:00:00:00:00:00", "92:d0:c6:0a:29", "92:d0:c6:0a:29:3", "zz:d0:c6:0a:29:33", ""] {
            #expect(DockerFlagValues.macAddress(bad) == nil, "\(bad)")
        }
        #expect(try DockerFlagValues.linkLocalAddress("169.254.1.2") == "169.254.1.2")
        #expect(throws: EngineError.self) { try DockerFlagValues.linkLocalAddress("10.0.0.1") }
        #expect(throws: EngineError.self) { try DockerFlagValues.linkLocalAddress("fe80::1") }
        #expect(try DockerFlagValues.link("db") == ("db", "db"))
        #expect(try DockerFlagValues.link("db:database") == ("db", "database"))
        #expect(throws: EngineError.self) { try DockerFlagValues.link(":x") }
        #expect(try DockerFlagValues.volumesFrom("data") == ("data", nil))
        #expect(try DockerFlagValues.volumesFrom("data:ro") == ("data", true))
        #expect(throws: EngineError.self) { try DockerFlagValues.volumesFrom("data:rx") }
    }

    @Test func onlyNamespacedSysctlsAreAllowed() throws {
        #expect(try DockerFlagValues.sysctl("net.ipv4.ip_forward=1", hostNetwork: false) == ("net.ipv4.ip_forward", "1"))
        #expect(try DockerFlagValues.sysctl("fs.mqueue.msg_max=20", hostNetwork: true) == ("fs.mqueue.msg_max", "20"))
        #expect(throws: EngineError.self) { try DockerFlagValues.sysctl("net.ipv4.ip_forward=1", hostNetwork: true) }
        #expect(throws: EngineError.self) { try DockerFlagValues.sysctl("kernel.panic=1", hostNetwork: false) }
        #expect(throws: EngineError.self) { try DockerFlagValues.sysctl("vm.swappiness=1", hostNetwork: false) }
    }

    @Test func namespaceModesAndHostEntries() throws {
        let ipc: Set<String> = ["private", "shareable", "host", "none", "container"]
        #expect(try DockerFlagValues.namespaceMode("container:db", flag: "--ipc", allowed: ipc) == .container("db"))
        #expect(try DockerFlagValues.namespaceMode("host", flag: "--ipc", allowed: ipc) == .host)
        #expect(try DockerFlagValues.namespaceMode("", flag: "--ipc", allowed: ipc) == nil)
        #expect(throws: EngineError.self) { try DockerFlagValues.namespaceMode("container:x", flag: "--uts", allowed: ["host"]) }
        #expect(throws: EngineError.self) { try DockerFlagValues.namespaceMode("container:", flag: "--ipc", allowed: ipc) }
        #expect(try DockerFlagValues.addHost("db:10.0.0.2") == ("db", "10.0.0.2"))
        #expect(try DockerFlagValues.addHost("v6=2001:db8::1") == ("v6", "2001:db8::1"))
        #expect(try DockerFlagValues.addHost("gw:host-gateway") == ("gw", "host-gateway"))
        #expect(throws: EngineError.self) { try DockerFlagValues.addHost("db") }
        #expect(throws: EngineError.self) { try DockerFlagValues.addHost("db:300.0.0.1") }
        #expect(DockerFlagValues.fileLines("A=1\r\n# c\n\n  B=2\n") == ["A=1", "B=2"])
    }

    @Test func mountFlagsAsDockerSpellsThem() throws {
        let tmpfs = try MountFlag.parse("type=tmpfs,dst=/scratch,tmpfs-size=1m,tmpfs-mode=1770,ro")
        #expect(tmpfs == Mount(destination: "/scratch", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "noexec", "size=1048576", "mode=1770", "ro"]))
        let bind = try MountFlag.parse("type=bind,src=/tmp,target=/data,readonly=true,bind-propagation=rslave")
        #expect(bind == Mount(destination: "/data", type: "bind", source: "/tmp", options: ["rbind", "ro", "rslave"]))
        // No type is a volume's; no source an anonymous one.
        #expect(try MountFlag.parse("target=/x") == Mount(destination: "/x", type: "volume", source: "", options: ["rw"]))
        #expect(try MountFlag.parse("type=volume,src=cache,dst=/c,ro,volume-nocopy") == Mount(destination: "/c", type: "volume", source: "cache", options: ["ro", "nocopy"]))
        for bad in ["type=bind", "type=bind,target=/x", "type=bind,source=relative,target=/x", "type=volume,source=../x,target=/x",
                    "type=volume,source=v1,target=/x,volume-driver=nfs", "type=tmpfs,target=/",
                    "type=tmpfs,target=/x,tmpfs-mode=9", "type=tmpfs,target=/x,bogus=1", "type=nfs,target=/x", "type=bind,source=/tmp,target=/x,readonly=maybe",
                    "type=bind,source=/tmp,source=/var,target=/x"] {
            #expect(throws: EngineError.self, "\(bad)") { try MountFlag.parse(bad) }
        }
    }
}
