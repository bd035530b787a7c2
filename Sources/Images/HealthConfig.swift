/// A health check as Docker's image config and container config carry it ("Healthcheck"):
/// Test is ["CMD-SHELL", script], ["CMD", argv…], ["NONE"] (disabled) or empty (inherit);
/// durations are nanoseconds, 0 meaning "the default" (or the image's, for a container).
public struct HealthConfig: Codable, Equatable, Sendable {
    public var test: [String]?
    public var interval: Int64?
    public var timeout: Int64?
    public var startPeriod: Int64?
    public var startInterval: Int64?
    public var retries: Int?

    public init(test: [String]? = nil, interval: Int64? = nil, timeout: Int64? = nil, startPeriod: Int64? = nil,
                startInterval: Int64? = nil, retries: Int? = nil) {
        self.test = test
        self.interval = interval
        self.timeout = timeout
        self.startPeriod = startPeriod
        self.startInterval = startInterval
        self.retries = retries
    }

    enum CodingKeys: String, CodingKey {
        case test = "Test", interval = "Interval", timeout = "Timeout", startPeriod = "StartPeriod"
        case startInterval = "StartInterval", retries = "Retries"
    }

    /// Docker's defaults for what is unset or 0.
    public static let defaultInterval: Int64 = 30_000_000_000
    public static let defaultTimeout: Int64 = 30_000_000_000
    public static let defaultStartInterval: Int64 = 5_000_000_000
    public static let defaultRetries = 3

    /// `override`'s fields on top of these (a container's flags over the image's check), as
    /// Docker merges them: a field set (non-zero) in `override` wins.
    public func merged(with override: HealthConfig) -> HealthConfig {
        func pick(_ mine: Int64?, _ theirs: Int64?) -> Int64? { (theirs ?? 0) != 0 ? theirs : mine }
        var result = self
        if let test = override.test, !test.isEmpty { result.test = test }
        result.interval = pick(interval, override.interval)
        result.timeout = pick(timeout, override.timeout)
        result.startPeriod = pick(startPeriod, override.startPeriod)
        result.startInterval = pick(startInterval, override.startInterval)
        if (override.retries ?? 0) != 0 { result.retries = override.retries }
        return result
    }

    /// Whether there is a check to run: a CMD or CMD-SHELL test.
    public var isEnabled: Bool {
        guard let kind = test?.first else { return false }
        return (kind == "CMD" || kind == "CMD-SHELL") && (test?.count ?? 0) > 1
    }
}
