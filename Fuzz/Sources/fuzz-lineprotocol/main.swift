import DumpReader
import FuzzDriver
import FuzzSupport

/// libFuzzer target: the line-protocol reader. Asserts that the outcome does not depend on the
/// chunk size nor on the threads that parse it (an eighth of the inputs), that reject line numbers
/// count newlines outside quoted values, and that every point written back as line protocol
/// parses to the same point.

nonisolated(unsafe) let input = InputFile(name: "lp")

@_cdecl("LLVMFuzzerTestOneInput")
func test(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    if size >= 2, data[0] == 0x1F, data[1] == 0x8B { return 0 }  // the gzip target's job
    let outcome = readAtSeveralChunkSizes(bytes)
    if size % 8 == 0 { checkThreadedRead(input, bytes) }
    if outcome.format == .lineProtocol {
        checkLineNumbers(outcome, decompressed: Array(bytes))
        checkRoundTrip(outcome)
    }
    return 0
}

/// Every point, written back as line protocol (one line each), reads back as the same point
/// of the same kind (selected or other), in the same order.
func checkRoundTrip(_ outcome: ReadOutcome) {
    guard !outcome.inOrder.isEmpty else { return }
    let text = outcome.inOrder.map(lineProtocol).joined()
    let again = Array(text.utf8).withUnsafeBytes { readInMemory($0, ReaderOptions(maxLineBytes: 1 << 20, chunkSize: 1 << 16)) }
    guard again.rejects.isEmpty, again.error == nil else {
        fatalError("round trip rejected: \(again.rejects.first.map { "\($0.reason): \($0.raw.debugDescription)" } ?? again.error ?? "")")
    }
    guard again.inOrder.count == outcome.inOrder.count, again.selected == outcome.selected else {
        fatalError("round trip: \(outcome.inOrder.count) points written, \(again.inOrder.count) read, or selection changed")
    }
    for (point, found) in zip(outcome.inOrder, again.inOrder) {
        var expected = point
        expected.line = found.line  // lines are checked against the input by checkLineNumbers
        guard found == expected || sameNaN(found, expected) else {
            fatalError("round trip changed the point: \(point) -> \(lineProtocol(point).debugDescription) -> \(found)")
        }
    }
}

func sameNaN(_ a: Point, _ b: Point) -> Bool {
    guard case .float(let x) = a.value, case .float(let y) = b.value, x.isNaN, y.isNaN else { return false }
    var a = a, b = b
    a.value = .float(0)
    b.value = .float(0)
    return a == b
}

runFuzzer(test)
