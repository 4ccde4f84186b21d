import DumpReader
import FuzzDriver
import FuzzSupport

/// libFuzzer target: the gzip decoder (and the readers behind it), on inputs that start with
/// the gzip magic. Asserts that the outcome (events, error and its offset) does not depend on
/// the chunk size, and that zlib and ISA-L inflate the input alike (same bytes, or both fail);
/// crashes, hangs and leaks are the sanitizer's to find.
nonisolated(unsafe) let input = InputFile(name: "gz")

@_cdecl("LLVMFuzzerTestOneInput")
func test(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    var bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if !bytes.starts(with: [0x1F, 0x8B]) { bytes = [0x1F, 0x8B] + bytes }
    _ = bytes.withUnsafeBytes { readAtTwoChunkSizes(input, $0) }
    if bothInflaters { inflateAlike(input) }
    return 0
}

runFuzzer(test)
