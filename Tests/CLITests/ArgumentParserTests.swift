import Testing
@testable import CLI
@testable import Engine
import Images

@Suite struct ArgumentParserTests {
    let runOptions = Commands.run.options

    func parseRun(_ args: [String]) throws -> ParsedArguments {
        try parseArguments(args, options: runOptions, stopAtFirstPositional: true)
    }

    @Test func clusteredShortFlags() throws {
        let parsed = try parseRun(["-it", "--rm", "alpine", "sh"])
        #expect(parsed.has("interactive") && parsed.has("tty") && parsed.has("rm"))
        #expect(parsed.positionals == ["alpine", "sh"])
    }

    @Test func valuesInEveryDockerSpelling() throws {
        let parsed = try parseRun(["-e", "A=1", "-eB=2", "--env=C=3", "--env", "D", "--name=web", "-w/srv", "img"])
        #expect(parsed.values["env"] == ["A=1", "B=2", "C=3", "D"])
        #expect(parsed.value("name") == "web")
        #expect(parsed.value("workdir") == "/srv")
    }

    @Test func flagsAfterTheImageBelongToTheCommand() throws {
        let parsed = try parseRun(["--rm", "img", "ls", "-la", "--rm"])
        #expect(parsed.positionals == ["img", "ls", "-la", "--rm"])
        #expect(parsed.has("rm"))
    }

    @Test func doubleDashEndsOptions() throws {
        #expect(try parseRun(["--", "-weird-image"]).positionals == ["-weird-image"])
    }

    @Test func errorsNameTheFlag() {
        #expect(throws: UsageError("unknown flag: --bogus")) { try parseRun(["--bogus", "img"]) }
        #expect(throws: UsageError("flag needs an argument: --name")) { try parseRun(["--name"]) }
        #expect(throws: UsageError("unknown shorthand flag: 'z' in -iz")) { try parseRun(["-iz", "img"]) }
    }

    @Test func booleanFlagsTakeExplicitValues() throws {
        #expect(try parseRun(["--rm=false", "img"]).has("rm") == false)
        #expect(try parseRun(["--rm=true", "img"]).has("rm"))
        #expect(throws: UsageError.self) { try parseRun(["--rm=maybe", "img"]) }
    }
}

@Suite struct CLIExitCodeTests {
    @Test func usageErrorsExit125WithOneLine() {
        #expect(SwiftainerCLI.main(["swiftainer", "run", "--bogus"]) == 125)
        #expect(SwiftainerCLI.main(["swiftainer", "nonsense"]) == 125)
    }

    @Test func humanSizesMatchDocker() {
        #expect(humanSize(512) == "512B")
        #expect(humanSize(1_980_000) == "1.98MB")
        #expect(humanSize(12_345_678) == "12.3MB")
        #expect(humanSize(999_999_999) == "1GB")
        #expect(humanSize(999_600_000) == "1GB")
        #expect(humanSize(999_400_000) == "999MB")
    }
}

@Suite struct SpecBuilderTests {
    let image = ImageRecord(id: "sha256:" + String(repeating: "ab", count: 32), created: "", size: 0, source: "",
                            config: ImageConfig(env: ["PATH=/bin", "LANG=C"], cmd: ["/bin/sh"], workingDir: "/"))

    @Test func defaultsComeFromTheImage() {
        var options = RunOptions()
        options.image = "x"
        let spec = SpecBuilder.spec(for: options, image: image, containerID: "0123456789abcdef", hostEnvironment: [:], hostHostname: "host")
        #expect(spec.process?.args == ["/bin/sh"])
        #expect(spec.hostname == "0123456789ab")
        #expect(spec.process?.env?.contains("HOSTNAME=0123456789ab") == true)
        #expect(spec.linux?.namespaces?.map(\.type).sorted() == ["ipc", "mount", "network", "pid", "uts"])
    }

    @Test func envFlagsOverrideAndCopyFromTheHost() {
        var options = RunOptions()
        options.env = ["LANG=en_US.UTF-8", "FROM_HOST", "MISSING_ON_HOST", "NEW=1"]
        let spec = SpecBuilder.spec(for: options, image: image, containerID: "id", hostEnvironment: ["FROM_HOST": "yes"], hostHostname: "h")
        let env = spec.process?.env ?? []
        #expect(env.contains("LANG=en_US.UTF-8") && !env.contains("LANG=C"))
        #expect(env.contains("FROM_HOST=yes"))
        #expect(!env.contains { $0.hasPrefix("MISSING_ON_HOST") })
        #expect(env.contains("NEW=1"))
    }

    @Test func hostNetworkKeepsTheHostsNetworkNamespaceAndName() {
        var options = RunOptions()
        options.network = .host
        options.tty = true
        options.command = ["top"]
        let spec = SpecBuilder.spec(for: options, image: image, containerID: "id", hostEnvironment: [:], hostHostname: "hostbox")
        #expect(spec.linux?.namespaces?.contains { $0.type == "network" } == false)
        #expect(spec.hostname == "hostbox")
        #expect(spec.process?.terminal == true)
        #expect(spec.process?.env?.contains("TERM=xterm") == true)
        #expect(spec.process?.args == ["top"])
    }
}
