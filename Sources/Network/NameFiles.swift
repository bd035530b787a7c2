import LinuxKit
import Netlink

/// /etc/hosts, /etc/hostname and /etc/resolv.conf of a container, written in its directory
/// and bind-mounted over the image's, as Docker does.
public enum NameFiles {
    /// `addresses`: the container's, one line each with its names (its first network's first,
    /// then one for each network it is connected to, as Docker's); `extra`: --add-host lines,
    /// "IP NAME", before them.
    public static func hosts(hostname: String, name: String, addresses: [String], extra: [String] = []) -> String {
        var text = """
        127.0.0.1\tlocalhost
        ::1\tlocalhost ip6-localhost ip6-loopback
        fe00::0\tip6-localnet
        ff00::0\tip6-mcastprefix
        ff02::1\tip6-allnodes
        ff02::2\tip6-allrouters

        """
        for line in extra {
            let fields = line.split(separator: " ", maxSplits: 1)
            if fields.count == 2 { text += "\(fields[0])\t\(fields[1])\n" }
        }
        for address in addresses { text += "\(address)\t\(hostname)" + (name == hostname ? "" : " \(name)") + "\n" }
        return text
    }

    /// The host's resolver configuration for a container: nameservers on the host's loopback
    /// cannot be reached from another network namespace and are dropped (Docker then falls back
    /// to public resolvers; swiftainer says so in the file instead of inventing one). `dns`
    /// (--dns) replaces the nameservers.
    public static func resolvConf(host: String, dns: [String], search: [String] = [], options: [String] = []) -> String {
        var lines: [String] = []
        var dropped: [String] = []
        for line in host.split(separator: "\n").map({ $0.trimmingWhitespace }) {
            let fields = line.split(separator: " ").filter { !$0.isEmpty }
            // --dns-search and --dns-option replace the host's lines of that kind.
            if fields.first == "search" && !search.isEmpty { continue }
            if fields.first == "options" && !options.isEmpty { continue }
            if fields.first == "nameserver" {
                guard dns.isEmpty else { continue }
                if let server = fields.dropFirst().first.map(String.init), server.hasPrefix("127.") || server == "::1" {
                    dropped.append(server)
                    continue
                }
            }
            if !line.isEmpty { lines.append(line) }
        }
        lines += dns.map { "nameserver \($0)" }
        if !search.isEmpty { lines.append("search " + search.joined(separator: " ")) }
        if !options.isEmpty { lines.append("options " + options.joined(separator: " ")) }
        if !dropped.isEmpty { lines.append("# dropped the host's loopback nameservers \(dropped.joined(separator: " ")): unreachable from the container; use --dns") }
        return lines.joined(separator: "\n") + "\n"
    }
}
