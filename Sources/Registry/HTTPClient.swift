#if canImport(Glibc)
import Glibc
#endif
import CCurl
import LinuxKit

public struct RegistryError: Error, CustomStringConvertible, Equatable {
    public let description: String
    /// The transfer itself failed (no connection, TLS, a reset): curl's error, not the registry's.
    public let isTransfer: Bool
    public init(_ description: String, isTransfer: Bool = false) {
        self.description = description
        self.isTransfer = isTransfer
    }
}

/// One HTTP response: the status and the headers of the last response (after redirects).
public struct HTTPResponse {
    public var status: Int
    public var headers: [(name: String, value: String)]

    /// A header's value, case-insensitively.
    public func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.name.lowercased() == wanted }?.value
    }
}

/// HTTP over libcurl (loaded on first use, see CCurl.h). One connection handle per client:
/// requests to one registry reuse it. Not shared between threads: each concurrent layer
/// download has a client of its own.
public final class HTTPClient {
    private let handle: UnsafeMutableRawPointer
    /// A registry's own CA certificate (certs.d), trusted in addition to the system's.
    public var caFile: String?

    public init() throws {
        var error = [CChar](repeating: 0, count: 256)
        guard swc_load(&error, error.count) == 0 else { throw RegistryError(String(cString: error)) }
        guard let handle = swc_handle_new() else { throw RegistryError("curl_easy_init failed") }
        self.handle = handle
    }

    deinit { swc_handle_free(handle) }

    /// What a request's callbacks reach: the body sink and the collected headers.
    private final class Exchange {
        var headers: [(name: String, value: String)] = []
        /// The status of the response being received (a redirect's, then the final one's).
        var status = 0
        let sink: (Int, UnsafeRawBufferPointer) throws -> Void
        var sinkError: Error?
        init(sink: @escaping (Int, UnsafeRawBufferPointer) throws -> Void) { self.sink = sink }
    }

    /// Sends a request; the body goes to `sink` as it arrives, with the status of the response
    /// it belongs to (an error thrown there aborts the transfer and is rethrown here).
    /// Redirects are followed.
    @discardableResult
    public func send(_ method: String, _ url: String, headers: [String] = [], body: [UInt8]? = nil, upload: (fd: Int32, length: Int64)? = nil,
                     sink: @escaping (Int, UnsafeRawBufferPointer) throws -> Void = { _, _ in }) throws -> HTTPResponse {
        let exchange = Exchange(sink: sink)
        let context = Unmanaged.passUnretained(exchange).toOpaque()
        var status = 0
        var error = [CChar](repeating: 0, count: 512)
        let headerStrings = headers.map { strdup($0) }
        defer { headerStrings.forEach { free($0) } }
        var headerPointers: [UnsafePointer<CChar>?] = headerStrings.map { $0.map { UnsafePointer($0) } }
        let code: Int32 = withExtendedLifetime(exchange) {
            method.withCString { methodC in
                url.withCString { urlC in
                    withOptionalCString(caFile) { caC in
                        headerPointers.withUnsafeMutableBufferPointer { headerBuffer in
                            withOptionalBytes(body) { bodyPointer, bodyLength in
                                var request = swc_request(
                                    method: methodC, url: urlC,
                                    headers: UnsafePointer(headerBuffer.baseAddress),
                                    header_count: Int32(headerBuffer.count),
                                    body: bodyPointer, body_length: bodyLength, upload_fd: upload?.fd ?? -1, upload_length: upload?.length ?? 0,
                                    ca_file: caC, follow_redirects: 1,
                                    on_data: { data, length, context in
                                        let exchange = Unmanaged<Exchange>.fromOpaque(context!).takeUnretainedValue()
                                        do {
                                            try exchange.sink(exchange.status, UnsafeRawBufferPointer(start: data, count: length))
                                            return length
                                        } catch {
                                            exchange.sinkError = error
                                            return 0
                                        }
                                    },
                                    on_header: { line, length, context in
                                        let exchange = Unmanaged<Exchange>.fromOpaque(context!).takeUnretainedValue()
                                        let text = String(decoding: UnsafeRawBufferPointer(start: line, count: length), as: UTF8.self)
                                        if text.hasPrefix("HTTP/") {
                                            exchange.headers = [] // a new response (after a redirect or a 100)
                                            let fields = text.split(separator: " ")
                                            exchange.status = fields.count > 1 ? Int(fields[1]) ?? 0 : 0
                                        } else if let colon = text.firstIndex(of: ":") {
                                            exchange.headers.append((String(text[..<colon]), String(text[text.index(after: colon)...]).trimmingWhitespace))
                                        }
                                    },
                                    context: context)
                                return swc_perform(handle, &request, &status, &error, error.count)
                            }
                        }
                    }
                }
            }
        }
        if let sinkError = exchange.sinkError { throw sinkError }
        guard code == 0 else { throw RegistryError("\(method) \(url): \(String(cString: error))", isTransfer: true) }
        return HTTPResponse(status: status, headers: exchange.headers)
    }

    /// A whole (small) response body, refused beyond `limit` bytes.
    public func fetch(_ url: String, headers: [String] = [], limit: Int) throws -> (HTTPResponse, [UInt8]) {
        var bytes: [UInt8] = []
        let response = try send("GET", url, headers: headers) { _, chunk in
            guard bytes.count + chunk.count <= limit else { throw RegistryError("GET \(url): the response is larger than \(limit) bytes") }
            bytes.append(contentsOf: chunk)
        }
        return (response, bytes)
    }
}

private func withOptionalCString<T>(_ string: String?, _ body: (UnsafePointer<CChar>?) throws -> T) rethrows -> T {
    guard let string else { return try body(nil) }
    return try string.withCString { try body($0) }
}

private func withOptionalBytes<T>(_ bytes: [UInt8]?, _ body: (UnsafeRawPointer?, Int) throws -> T) rethrows -> T {
    guard let bytes else { return try body(nil, 0) }
    return try bytes.withUnsafeBytes { try body($0.baseAddress ?? UnsafeRawPointer(bitPattern: 1), $0.count) }
}
