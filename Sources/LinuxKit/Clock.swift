#if canImport(Glibc)
import Glibc
#endif
import CLinux

public enum Clock {
    /// Seconds and nanoseconds since the epoch.
    public static func now() -> timespec {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return ts
    }

    /// Seconds on the monotonic clock, for deadlines that must not jump with the wall clock.
    public static func monotonicSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// RFC 3339 in UTC with nanoseconds, as Docker writes times: 2026-11-23T06:08:00.123456789Z.
    public static func rfc3339(_ ts: timespec = now()) -> String {
        // Formatted in C (CLinux/json_log.c), the one formatter the detached waiter uses too.
        var buffer = [CChar](repeating: 0, count: Int(SW_RFC3339_SIZE))
        sw_format_rfc3339(Int64(ts.tv_sec), ts.tv_nsec, &buffer)
        return String(cString: buffer)
    }

    /// Parses the seconds of an RFC 3339 UTC time written by `rfc3339`.
    public static func epochSeconds(rfc3339 text: String) -> Int? {
        let digits = text.split(whereSeparator: { !$0.isNumber }).compactMap { Int32($0) }
        guard digits.count >= 6 else { return nil }
        var parts = tm()
        parts.tm_year = digits[0] - 1900
        parts.tm_mon = digits[1] - 1
        parts.tm_mday = digits[2]
        parts.tm_hour = digits[3]
        parts.tm_min = digits[4]
        parts.tm_sec = digits[5]
        return Int(timegm(&parts))
    }

    /// "3 seconds", "2 hours": the time since `text`, as `docker ps` prints it.
    public static func humanDuration(sinceRFC3339 text: String) -> String {
        guard let then = epochSeconds(rfc3339: text) else { return text }
        let delta = max(0, now().tv_sec - then)
        func unit(_ value: Int, _ name: String) -> String { "\(value) \(name)\(value == 1 ? "" : "s")" }
        switch delta {
        case ..<1: return "Less than a second"
        case ..<60: return unit(delta, "second")
        case ..<3600: return unit(delta / 60, "minute")
        case ..<86400: return unit(delta / 3600, "hour")
        default: return unit(delta / 86400, "day")
        }
    }

    /// Go's time.String in UTC, as Docker's CreatedAt columns print it: "2026-12-02 13:08:33 +0000 UTC".
    public static func goTimeString(rfc3339 text: String) -> String {
        guard var seconds = epochSeconds(rfc3339: text).map({ time_t($0) }) else { return text }
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday)) \(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) +0000 UTC"
    }

    /// "3 seconds ago", as `docker images` prints CREATED.
    public static func humanAge(sinceRFC3339 text: String) -> String {
        humanDuration(sinceRFC3339: text) + " ago"
    }
}
