/// The flags of `swiftainer run` — every flag of Docker CLI 28's `docker run`, with Docker's
/// names, value kinds and meaning — plus runc's for `run --bundle`. One table: the parser, the
/// help text and scripts/docker-parity all read it. A flag Linux or this design cannot honour
/// is listed with its refusal, which is what using it prints.
enum RunFlags {
    static let container = "Container"
    static let process = "Process"
    static let resources = "Resources"
    static let network = "Network"
    static let storage = "Storage"
    static let security = "Security"
    static let health = "Health check"
    static let logging = "Logging"
    static let oci = "OCI runtime (run --bundle DIR ID, as runc's run)"

    /// Windows containers' flags: Docker on Linux refuses them the same way.
    static func windowsOnly(_ flag: String) -> String {
        "\(flag) is a Windows containers option; it is not supported on Linux"
    }

    static let options: [OptionSpec] = [
        // Container
        OptionSpec(["-d", "--detach"], nil, "Run container in background and print container ID", key: "detach", group: container),
        OptionSpec(["--name"], "string", "Assign a name to the container", group: container),
        OptionSpec(["--rm"], nil, "Automatically remove the container and its associated anonymous volumes when it exits", group: container),
        OptionSpec(["--pull"], "string", "Pull image before running (\"always\", \"missing\", \"never\")", group: container),
        OptionSpec(["-q", "--quiet"], nil, "Suppress the pull output", key: "quiet", group: container),
        OptionSpec(["--platform"], "string", "Set platform if server is multi-platform capable", group: container),
        OptionSpec(["--disable-content-trust"], nil, "Skip image verification (default true)", group: container),
        OptionSpec(["-l", "--label"], "list", "Set meta data on a container", key: "label", group: container),
        OptionSpec(["--label-file"], "list", "Read in a line delimited file of labels", group: container),
        OptionSpec(["--annotation"], "map", "Add an annotation to the container (passed through to the OCI runtime)", group: container),
        OptionSpec(["--cidfile"], "string", "Write the container ID to the file", group: container),
        OptionSpec(["--restart"], "string", "Restart policy to apply when a container exits (no, on-failure[:max-retries], always, unless-stopped) (default \"no\")", group: container),
        OptionSpec(["--stop-signal"], "string", "Signal to stop the container", group: container),
        OptionSpec(["--stop-timeout"], "int", "Timeout (in seconds) to stop a container", group: container),
        OptionSpec(["--runtime"], "string", "Runtime to use for this container", group: container),
        OptionSpec(["--isolation"], "string", "Container isolation technology", group: container),
        OptionSpec(["--help"], nil, "Print usage", group: container),

        // Process
        OptionSpec(["-i", "--interactive"], nil, "Keep STDIN open even if not attached", key: "interactive", group: process),
        OptionSpec(["-t", "--tty"], nil, "Allocate a pseudo-TTY", key: "tty", group: process),
        OptionSpec(["-a", "--attach"], "list", "Attach to STDIN, STDOUT or STDERR", key: "attach", group: process),
        OptionSpec(["--detach-keys"], "string", "Override the key sequence for detaching a container (default ctrl-p,ctrl-q)", group: process),
        OptionSpec(["--sig-proxy"], nil, "Proxy received signals to the process (default true)", group: process),
        OptionSpec(["--entrypoint"], "string", "Overwrite the default ENTRYPOINT of the image", group: process),
        OptionSpec(["-e", "--env"], "list", "Set environment variables", key: "env", group: process),
        OptionSpec(["--env-file"], "list", "Read in a file of environment variables", group: process),
        OptionSpec(["-w", "--workdir"], "string", "Working directory inside the container", key: "workdir", group: process),
        OptionSpec(["-u", "--user"], "string", "Username or UID (format: <name|uid>[:<group|gid>])", key: "user", group: process),
        OptionSpec(["--group-add"], "list", "Add additional groups to join", group: process),
        OptionSpec(["--init"], nil, "Run an init inside the container that forwards signals and reaps processes", group: process),
        OptionSpec(["-h", "--hostname"], "string", "Container host name", key: "hostname", group: process),
        OptionSpec(["--domainname"], "string", "Container NIS domain name", group: process),
        OptionSpec(["--ulimit"], "ulimit", "Ulimit options", group: process),
        OptionSpec(["--sysctl"], "map", "Sysctl options", group: process),
        OptionSpec(["--oom-score-adj"], "int", "Tune host's OOM preferences (-1000 to 1000)", group: process),
        OptionSpec(["--ipc"], "string", "IPC mode to use", group: process),
        OptionSpec(["--pid"], "string", "PID namespace to use", group: process),
        OptionSpec(["--uts"], "string", "UTS namespace to use", group: process),
        OptionSpec(["--userns"], "string", "User namespace to use", group: process),
        OptionSpec(["--cgroupns"], "string", "Cgroup namespace to use (host|private)", group: process),
        OptionSpec(["--cgroup-parent"], "string", "Optional parent cgroup for the container", group: process),

        // Resources
        OptionSpec(["-m", "--memory"], "bytes", "Memory limit", key: "memory", group: resources),
        OptionSpec(["--memory-swap"], "bytes", "Swap limit equal to memory plus swap: '-1' to enable unlimited swap", group: resources),
        OptionSpec(["--memory-reservation"], "bytes", "Memory soft limit", group: resources),
        OptionSpec(["--memory-swappiness"], "int", "Tune container memory swappiness (0 to 100) (default -1)", group: resources),
        OptionSpec(["--kernel-memory"], "bytes", "Kernel memory limit (deprecated)", group: resources),
        OptionSpec(["--oom-kill-disable"], nil, "Disable OOM Killer", group: resources),
        OptionSpec(["--pids-limit"], "int", "Tune container pids limit (set -1 for unlimited)", group: resources),
        OptionSpec(["--cpus"], "decimal", "Number of CPUs", group: resources),
        OptionSpec(["-c", "--cpu-shares"], "int", "CPU shares (relative weight)", key: "cpu-shares", group: resources),
        OptionSpec(["--cpu-period"], "int", "Limit CPU CFS (Completely Fair Scheduler) period", group: resources),
        OptionSpec(["--cpu-quota"], "int", "Limit CPU CFS (Completely Fair Scheduler) quota", group: resources),
        OptionSpec(["--cpu-rt-period"], "int", "Limit CPU real-time period in microseconds", group: resources),
        OptionSpec(["--cpu-rt-runtime"], "int", "Limit CPU real-time runtime in microseconds", group: resources),
        OptionSpec(["--cpuset-cpus"], "string", "CPUs in which to allow execution (0-3, 0,1)", group: resources),
        OptionSpec(["--cpuset-mems"], "string", "MEMs in which to allow execution (0-3, 0,1)", group: resources),
        OptionSpec(["--blkio-weight"], "uint16", "Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)", group: resources),
        OptionSpec(["--blkio-weight-device"], "list", "Block IO weight (relative device weight)", group: resources),
        OptionSpec(["--device-read-bps"], "list", "Limit read rate (bytes per second) from a device", group: resources),
        OptionSpec(["--device-read-iops"], "list", "Limit read rate (IO per second) from a device", group: resources),
        OptionSpec(["--device-write-bps"], "list", "Limit write rate (bytes per second) to a device", group: resources),
        OptionSpec(["--device-write-iops"], "list", "Limit write rate (IO per second) to a device", group: resources),
        OptionSpec(["--device"], "list", "Add a host device to the container", group: resources),
        OptionSpec(["--device-cgroup-rule"], "list", "Add a rule to the cgroup allowed devices list", group: resources),
        OptionSpec(["--shm-size"], "bytes", "Size of /dev/shm", group: resources),
        OptionSpec(["--gpus"], "gpu", "GPU devices to add to the container ('all' to pass all GPUs)", group: resources,
                   refusal: "--gpus is not supported: swiftainer has no GPU device support (no NVIDIA container toolkit hook)"),
        OptionSpec(["--cpu-count"], "int", "CPU count (Windows only)", group: resources, refusal: windowsOnly("--cpu-count")),
        OptionSpec(["--cpu-percent"], "int", "CPU percent (Windows only)", group: resources, refusal: windowsOnly("--cpu-percent")),
        OptionSpec(["--io-maxbandwidth"], "bytes", "Maximum IO bandwidth limit for the system drive (Windows only)", group: resources,
                   refusal: windowsOnly("--io-maxbandwidth")),
        OptionSpec(["--io-maxiops"], "uint", "Maximum IOps limit for the system drive (Windows only)", group: resources,
                   refusal: windowsOnly("--io-maxiops")),

        // Network
        OptionSpec(["--network", "--net"], "network", "Connect a container to a network (bridge, none, host, container:NAME)", key: "network", group: network),
        OptionSpec(["--network-alias"], "list", "Add network-scoped alias for the container", group: network),
        OptionSpec(["-p", "--publish"], "list", "Publish a container's port(s) to the host", key: "publish", group: network),
        OptionSpec(["-P", "--publish-all"], nil, "Publish all exposed ports to random ports", key: "publish-all", group: network),
        OptionSpec(["--expose"], "list", "Expose a port or a range of ports", group: network),
        OptionSpec(["--ip"], "string", "IPv4 address (e.g., 172.30.100.104)", group: network),
        OptionSpec(["--ip6"], "string", "IPv6 address (e.g., 2001:db8::33), on a network made with --ipv6", group: network),
        OptionSpec(["--link-local-ip"], "list", "Container IPv4/IPv6 link-local addresses", group: network),
        OptionSpec(["--mac-address"], "string", "Container MAC address (e.g., 92:d0:c6:0a:29:33)", group: network),
        OptionSpec(["--dns"], "list", "Set custom DNS servers", group: network),
        OptionSpec(["--dns-option"], "list", "Set DNS options", group: network),
        OptionSpec(["--dns-search"], "list", "Set custom DNS search domains", group: network),
        OptionSpec(["--add-host"], "list", "Add a custom host-to-IP mapping (host:ip)", group: network),
        OptionSpec(["--link"], "list", "Add link to another container", group: network),

        // Storage
        OptionSpec(["-v", "--volume"], "list", "Bind mount a volume", key: "volume", group: storage),
        OptionSpec(["--mount"], "mount", "Attach a filesystem mount to the container", group: storage),
        OptionSpec(["--tmpfs"], "list", "Mount a tmpfs directory", group: storage),
        OptionSpec(["--volumes-from"], "list", "Mount volumes from the specified container(s)", group: storage),
        OptionSpec(["--volume-driver"], "string", "Optional volume driver for the container", group: storage),
        OptionSpec(["--read-only"], nil, "Mount the container's root filesystem as read only", group: storage),
        OptionSpec(["--storage-opt"], "list", "Storage driver options for the container", group: storage,
                   refusal: "--storage-opt is not supported: swiftainer's overlay store has no per-container size quota"),

        // Security
        OptionSpec(["--privileged"], nil, "Give extended privileges to this container", group: security),
        OptionSpec(["--cap-add"], "list", "Add Linux capabilities", group: security),
        OptionSpec(["--cap-drop"], "list", "Drop Linux capabilities", group: security),
        OptionSpec(["--security-opt"], "list", "Security Options", group: security),
        OptionSpec(["--use-api-socket"], nil, "Bind mount Docker API socket and required auth", group: security,
                   refusal: "--use-api-socket is not supported: swiftainer is daemonless and has no API socket to mount"),

        // Health check
        OptionSpec(["--health-cmd"], "string", "Command to run to check health", group: health),
        OptionSpec(["--health-interval"], "duration", "Time between running the check (ms|s|m|h) (default 0s)", group: health),
        OptionSpec(["--health-retries"], "int", "Consecutive failures needed to report unhealthy", group: health),
        OptionSpec(["--health-start-interval"], "duration", "Time between running the check during the start period (ms|s|m|h) (default 0s)", group: health),
        OptionSpec(["--health-start-period"], "duration", "Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)", group: health),
        OptionSpec(["--health-timeout"], "duration", "Maximum time to allow one check to run (ms|s|m|h) (default 0s)", group: health),
        OptionSpec(["--no-healthcheck"], nil, "Disable any container-specified HEALTHCHECK", group: health),

        // Logging
        OptionSpec(["--log-driver"], "string", "Logging driver for the container (json-file, local, none)", group: logging),
        OptionSpec(["--log-opt"], "list", "Log driver options (max-size, max-file, compress)", group: logging),

        // swiftainer's own
        OptionSpec(["--no-pivot"], nil, "Enter the root filesystem with chroot instead of pivot_root", group: container),

        // runc's, for `run --bundle`
        OptionSpec(["-b", "--bundle"], "string", "Run the OCI bundle in DIR (runc's run)", key: "bundle", group: oci),
        OptionSpec(["--pid-file"], "string", "Write the container's init pid to the file", group: oci),
        OptionSpec(["--keep"], nil, "Keep the stopped container's state until delete", group: oci),
        OptionSpec(["--no-new-keyring"], nil, "Do not create a new session keyring", group: oci),
        OptionSpec(["--console-socket"], "string", "Send the pty master to this unix socket", group: oci),
        OptionSpec(["--preserve-fds"], "int", "Pass N more file descriptors (3 .. N+2) to the container", group: oci),
    ]

    /// The OCI-only flags: Docker's run refuses them.
    static let ociOnly = ["pid-file", "keep", "no-new-keyring", "console-socket", "preserve-fds"]

    /// The first refused flag the command line used, as the error to print.
    static func refusal(in args: ParsedArguments) -> UsageError? {
        for option in options where args.has(option.key) || args.values[option.key] != nil {
            if let refusal = option.refusal { return UsageError(refusal) }
            if option.notYetImplemented { return UsageError("\(option.names.last!) is not implemented yet") }
        }
        return nil
    }
}
