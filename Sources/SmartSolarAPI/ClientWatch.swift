import TelemetryCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTPTypes

/// The request context of the API: Hummingbird's basic context plus the connection's
/// channel, through which a handler learns that its client went away.
struct APIRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}

/// Whether the client of one HTTP connection is still there. `ClientWatch` marks it gone
/// when the client closes its side (the server allows half-closure, so a client that hangs
/// up shows as "input closed"); callbacks registered with `onGone` then run once.
// @unchecked Sendable: every field is read and written under `lock`.
final class ClientPresence: @unchecked Sendable {
    private let lock = NSLock()
    private var gone = false
    private var callbacks: [UInt64: @Sendable () -> Void] = [:]
    private var nextID: UInt64 = 0

    private static let lock = NSLock()
    nonisolated(unsafe) private static var byChannel: [ObjectIdentifier: ClientPresence] = [:]

    /// The presence of `channel`'s client; nil when no `ClientWatch` is installed.
    static func of(_ channel: any Channel) -> ClientPresence? {
        lock.withLock { byChannel[ObjectIdentifier(channel)] }
    }

    fileprivate static func register(_ channel: any Channel) -> ClientPresence {
        let presence = ClientPresence()
        lock.withLock { byChannel[ObjectIdentifier(channel)] = presence }
        return presence
    }

    fileprivate static func unregister(_ channel: any Channel) {
        _ = lock.withLock { byChannel.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    /// Runs `callback` when the client goes away (at once when it is gone already); the
    /// returned id removes it again.
    func onGone(_ callback: @escaping @Sendable () -> Void) -> UInt64? {
        let id: UInt64? = lock.withLock {
            if gone { return nil }
            nextID += 1
            callbacks[nextID] = callback
            return nextID
        }
        if id == nil { callback() }
        return id
    }

    func remove(_ id: UInt64?) {
        guard let id else { return }
        _ = lock.withLock { callbacks.removeValue(forKey: id) }
    }

    fileprivate func markGone() {
        let pending = lock.withLock {
            gone = true
            defer { callbacks = [:] }
            return Array(callbacks.values)
        }
        for callback in pending { callback() }
    }
}

/// A channel handler (after HTTP decoding) that tracks the client's presence and gives the
/// HTTP layer's own "400 Bad Request" (a request NIO could not parse: bad request line,
/// over-long headers) a JSON body instead of an empty one.
final class ClientWatch: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    static let malformedBody = JSONWriter.message("Malformed HTTP request")
    private var presence: ClientPresence?
    private var addingBody = false

    func handlerAdded(context: ChannelHandlerContext) {
        presence = ClientPresence.register(context.channel)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        ClientPresence.unregister(context.channel)
    }

    func channelInactive(context: ChannelHandlerContext) {
        presence?.markGone()
        ClientPresence.unregister(context.channel)
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .inputClosed? = event as? ChannelEvent { presence?.markGone() }
        context.fireUserInboundEventTriggered(event)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var head) where head.status == .badRequest && head.headerFields[.contentLength] == "0":
            addingBody = true
            head.headerFields[.contentLength] = String(Self.malformedBody.utf8.count)
            head.headerFields[.contentType] = "application/json"
            context.write(wrapOutboundOut(.head(head)), promise: promise)
        case .end(let trailers) where addingBody:
            addingBody = false
            context.write(wrapOutboundOut(.body(context.channel.allocator.buffer(string: Self.malformedBody))), promise: nil)
            context.write(wrapOutboundOut(.end(trailers)), promise: promise)
        default:
            context.write(data, promise: promise)
        }
    }
}
